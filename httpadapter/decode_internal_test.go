package httpadapter

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fastBodies are the request bodies with a fast path.
var fastBodies = []func() fastDecoder{
	func() fastDecoder { return new(requestBody) },
	func() fastDecoder { return new(verifyBody) },
	func() fastDecoder { return new(refreshBody) },
	func() fastDecoder { return new(phoneBody) },
}

// decodeFast runs dst's fast path on body, as decode does.
func decodeFast(dst fastDecoder, body string) bool {
	l := jsonLexer{s: []byte(body)}
	return dst.decodeFast(&l) && l.end()
}

// TestDecodeFastTakesCommonBodies checks that the bodies clients send, the
// seeds' among them, take the fast path, and decode as json.Unmarshal
// decodes them.
func TestDecodeFastTakesCommonBodies(t *testing.T) {
	for _, tt := range []struct {
		dst  fastDecoder
		body string
	}{
		{new(requestBody), `{"phone": "+923012345678", "country": "PK", "deviceId": "android.unique.device.id"}`},
		{new(requestBody), "{\n\t\"phone\":\"03012345678\",\r\n \"country\":\"PK\",\"deviceId\":\"d\",\"channel\":\"sms\",\"createUser\":true,\"create_user\":false,\"captchaToken\":\"t\",\"locale\":\"ur-PK\"}\n"},
		{new(requestBody), `{}`},
		{new(verifyBody), `{
  "otpInfo": {"phone": "923012345678", "otp": "249364", "country": "PK"},
  "deviceInfo": {"deviceId": "android.unique.device.id", "deviceType": "android", "deviceName": "pixel9",
    "platformVersion": "0.9.0", "fcmToken": "ksjfjdsfkljiowuerio2u39048"}
}`},
		{new(verifyBody), `{"otpInfo": {"phone": "+923012345678", "otp": 49364, "requestId": "r"}, "deviceInfo": {"deviceId": "d"}, "requestId": "r2"}`},
		{new(verifyBody), `{"otpInfo": {"phone": "+923012345678", "otp": 0}, "otpInfo": {"otp": "1"}, "deviceInfo": {}}`},
		{new(refreshBody), `{"refreshToken": "abc.def_ghi-jkl"}`},
		{new(phoneBody), `{"phone_number": "1234567890", "countryCode": "XX", "authCode": 1234, "otp": 5678}`},
		{new(phoneBody), `{"phone_number": "9876543219", "countryCode": "+91", "authCode": "ABC", "otp": "012345"}`},
	} {
		if !decodeFast(tt.dst, tt.body) {
			t.Errorf("%T: the fast path gave up on %s", tt.dst, tt.body)
			continue
		}
		want := reflect.New(reflect.TypeOf(tt.dst).Elem()).Interface()
		if err := json.Unmarshal([]byte(tt.body), want); err != nil || !reflect.DeepEqual(tt.dst, want) {
			t.Errorf("%s: fast path %+v, json.Unmarshal %+v (%v)", tt.body, tt.dst, want, err)
		}
	}
}

// TestDecodeFastGivesUp checks that the fast path leaves to json.Unmarshal
// what it does not handle exactly as json.Unmarshal would.
func TestDecodeFastGivesUp(t *testing.T) {
	for _, body := range []string{
		``, ` `, `null`, `[]`, `"x"`, `{`, `{"phone": "x"`, `{"phone": "x",}`, `{"phone" "x"}`, `{"phone": "x"} {}`,
		`{"phone": "x"}x`, `{"Phone": "x"}`, `{"PHONE": "x"}`, `{"unknown": "x"}`, `{"phone": null}`,
		`{"phone": 1}`, `{"phone": "\u0030"}`, `{"phone": "a\"b"}`, `{"phone": "é"}`, "{\"phone\": \"\x01\"}",
		"{\"phone\": \"\xff\"}", `{"createUser": "true"}`, `{"createUser": tru}`, `{"createUser": truex}`,
		`{"metadata": {}}`, "\v{}", `{"otpInfo": {"otp": 012}}`, `{"otpInfo": {"otp": -1}}`,
		`{"otpInfo": {"otp": 1.5}}`, `{"otpInfo": {"otp": 1e3}}`, `{"otpInfo": null}`, `{"otpInfo": []}`,
		`{"deviceInfo": {"deviceId": "d", "id": "x"}}`, `{"authCode": 12 3}`,
	} {
		for _, newBody := range fastBodies {
			if dst := newBody(); decodeFast(dst, body) {
				t.Errorf("%T: the fast path took %q", dst, body)
			}
		}
	}
}

// FuzzDecodeFast checks each fast path against json.Unmarshal: whatever it
// takes is valid JSON that json.Unmarshal decodes to the same value.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"phone": "+923012345678", "country": "PK", "deviceId": "d", "createUser": true}`,
		`{"otpInfo": {"phone": "923012345678", "otp": "249364"}, "deviceInfo": {"deviceId": "d", "fcmToken": "f"}}`,
		`{"otpInfo": {"otp": 0}}`, `{"refreshToken": "r"}`, `{"phone_number": "1", "authCode": 12, "otp": "3"}`,
		`{"phone": "x", "phone": "y"}`, `{"phone": "\u0041"}`, `{}`, ` { } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, newBody := range fastBodies {
			fast := newBody()
			if !decodeFast(fast, string(body)) {
				continue
			}
			want := newBody()
			if err := json.Unmarshal(body, want); err != nil {
				t.Fatalf("%T: the fast path took %q, which json.Unmarshal rejects: %v", fast, body, err)
			}
			if !reflect.DeepEqual(fast, want) {
				t.Fatalf("%q: fast path %+v, json.Unmarshal %+v", body, fast, want)
			}
		}
	})
}

// TestStringOrNumberStrings checks the unquoting of codes sent as strings
// against encoding/json's.
func TestStringOrNumberStrings(t *testing.T) {
	for _, in := range []string{
		`"012345"`, `""`, `" 0123 "`, `"\u0030123"`, `"a\"b"`, `"\\"`, `"é1"`, "\"\x7f\"", `"\ud800"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		var v stringOrNumber
		if err := v.UnmarshalJSON([]byte(in)); err != nil || v.text != want || v.number {
			t.Errorf("%s: %q %v %v, want %q", in, v.text, v.number, err, want)
		}
	}
}

func FuzzStringOrNumberStrings(f *testing.F) {
	f.Add("012345")
	f.Add("\x00\"\\é\xff")
	f.Fuzz(func(t *testing.T, s string) {
		in, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatal(err)
		}
		var v stringOrNumber
		if err := v.UnmarshalJSON(in); err != nil || v.text != want {
			t.Errorf("%s: %q %v, want %q", in, v.text, err, want)
		}
	})
}

func TestNULEscape(t *testing.T) {
	for body, want := range map[string]int{
		`{}`:                            -1,
		`{"a": "\u0000"}`:               7,
		`{"a": "\\u0000"}`:              -1, // a backslash, then the text u0000
		`{"a": "\\\u0000"}`:             9,  // a backslash, then NUL
		`{"a": "u0000", "b": "\u0000"}`: 21,
		`{"a": "\u00001"}`:              7,
		`{"a": "\u0001"}`:               -1,
	} {
		if got := nulEscape([]byte(body)); got != want {
			t.Errorf("nulEscape(%s) = %d, want %d", body, got, want)
		}
	}
}
