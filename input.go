package phoneauth

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// The client's strings that reach the Store, Users or Limiter (ids, device
// details, metadata) are text: valid UTF-8 without NUL bytes, which every
// backend can keep (PostgreSQL's text and jsonb refuse NUL). Others are
// refused with ErrInvalidRequest before the store is asked, the same with
// every backend.

// An InputError reports an input of the Authenticator's methods that is
// missing or malformed. It is found before anything is parsed, looked up or
// counted, and matches ErrInvalidRequest.
type InputError struct {
	// Field names the input as its params struct spells it: "Country",
	// "Channel", "DeviceID", "Device.Name", "Metadata", "UserID"…
	Field string
	// Reason says what is wrong, as words that follow the field's name:
	// "is required when the phone number does not start with +".
	Reason string
}

// Error returns "phoneauth: invalid request: " followed by the field and
// the reason.
func (e *InputError) Error() string {
	return ErrInvalidRequest.Error() + ": " + e.Field + " " + e.Reason
}

// Is reports whether target is ErrInvalidRequest.
func (e *InputError) Is(target error) bool { return target == ErrInvalidRequest }

// CheckPhoneInput applies the one rule on a phone input that needs no
// parsing: a number typed without a leading "+" (spaces aside) needs a
// country. It returns an *InputError for the field "Country", or nil. Every
// method of the Authenticator that takes a phone applies it first; an
// adapter that checks its own required fields may apply it among them, to
// report the first problem of a request in its own order.
func CheckPhoneInput(number, country string) error {
	number = strings.TrimSpace(number)
	if number != "" && number[0] != '+' && strings.TrimSpace(country) == "" {
		return &InputError{Field: "Country", Reason: "is required when the phone number does not start with +"}
	}
	return nil
}

// checkRequestInput checks the input of Request and Resend.
func checkRequestInput(p RequestParams) error {
	if err := CheckPhoneInput(p.Phone, p.Country); err != nil {
		return err
	}
	if err := checkChannel(p.Channel); err != nil {
		return err
	}
	if err := checkText(textField{"DeviceID", p.DeviceID}); err != nil {
		return err
	}
	if err := checkIP("IP", p.IP); err != nil {
		return err
	}
	return checkMetadata(p.Metadata)
}

// checkVerifyInput checks the input of Verify.
func checkVerifyInput(p VerifyParams) error {
	if err := CheckPhoneInput(p.Phone, p.Country); err != nil {
		return err
	}
	if err := checkIP("IP", p.IP); err != nil {
		return err
	}
	d := p.Device
	return checkText(textField{"RequestID", p.RequestID}, textField{"Device.ID", d.ID}, textField{"Device.Type", d.Type},
		textField{"Device.Name", d.Name}, textField{"Device.PlatformVersion", d.PlatformVersion}, textField{"Device.PushToken", d.PushToken})
}

// checkPhoneVerificationInput checks the input of StartPhoneVerification
// and ResendPhoneVerification.
func checkPhoneVerificationInput(p PhoneVerificationParams) error {
	if err := checkSignedInPhoneInput(p.UserID, p.SessionID, p.Phone, p.Country, p.IP); err != nil {
		return err
	}
	if err := checkChannel(p.Channel); err != nil {
		return err
	}
	return checkText(textField{"DeviceID", p.DeviceID})
}

// checkConfirmPhoneVerificationInput checks the input of ConfirmPhoneVerification.
func checkConfirmPhoneVerificationInput(p ConfirmPhoneVerificationParams) error {
	if err := checkSignedInPhoneInput(p.UserID, p.SessionID, p.Phone, p.Country, p.IP); err != nil {
		return err
	}
	return checkText(textField{"RequestID", p.RequestID})
}

// checkSignedInPhoneInput checks what the phone-verification methods share:
// the signed-in user and session, the phone and the client address.
func checkSignedInPhoneInput(userID, sessionID, phone, country, ip string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if err := checkSessionID(sessionID); err != nil {
		return err
	}
	if err := CheckPhoneInput(phone, country); err != nil {
		return err
	}
	return checkIP("IP", ip)
}

// checkSessionID checks the session id of a signed-in user.
func checkSessionID(id string) error {
	if id == "" {
		return &InputError{Field: "SessionID", Reason: "is required (the access token's session, which must be live)"}
	}
	return checkText(textField{"SessionID", id})
}

// checkUserID checks the id of a signed-in user.
func checkUserID(id string) error {
	if id == "" {
		return &InputError{Field: "UserID", Reason: "is required"}
	}
	return checkText(textField{"UserID", id})
}

// checkChannel accepts the known channels and "" (the default).
func checkChannel(ch Channel) error {
	if ch != "" && ch != SMS && ch != WhatsApp {
		return &InputError{Field: "Channel", Reason: `must be "sms" or "whatsapp"`}
	}
	return nil
}

// isText reports whether s is valid UTF-8 without NUL bytes.
func isText(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

// A textField is a named input for checkText.
type textField struct{ name, value string }

// checkText returns an *InputError for the first of fields that is not
// text.
func checkText(fields ...textField) error {
	for _, f := range fields {
		if !isText(f.value) {
			return &InputError{Field: f.name, Reason: "is not valid UTF-8 without NUL characters"}
		}
	}
	return nil
}

// checkMetadata returns an *InputError for the field "Metadata" if metadata
// cannot be stored: if it does not encode as JSON (a cycle, a function, a
// NaN), or holds a NUL character in a key or a string. Invalid UTF-8 is no
// reason: JSON encoding replaces it, as it does in every backend.
func checkMetadata(m map[string]any) error {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return &InputError{Field: "Metadata", Reason: "does not encode as JSON: " + err.Error()}
	}
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return nil // the only way JSON writes a NUL
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil || holdsNUL(v) { // it decodes: json.Marshal wrote it
		return &InputError{Field: "Metadata", Reason: "holds a NUL character"}
	}
	return nil // \u0000 was the text of a string, its backslash escaped
}

// holdsNUL reports whether a decoded JSON value has a NUL in a key or a
// string.
func holdsNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if holdsNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || holdsNUL(e) {
				return true
			}
		}
	}
	return false
}
