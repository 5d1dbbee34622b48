package httpadapter

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// decode reads r's JSON body into dst, a pointer to a zero struct. It
// returns a 4xx problem for a Content-Type other than JSON (415), a body
// over the limit (413), malformed JSON (400, with the line and column) and
// a field of the wrong type (400, naming it). Unknown fields are ignored;
// an empty body leaves dst as it is, like {}. A request without a
// Content-Type is accepted only with an empty body.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, dst any) *problem {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !isJSONMediaType(ct) {
		return &problem{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
			detail: fmt.Sprintf("Content-Type must be application/json, not %q", truncate(ct, 80))}
	}
	if r.ContentLength > h.maxBody {
		return h.tooLarge()
	}
	buf := h.buffer()
	defer h.release(buf)
	if r.Body != nil {
		if r.ContentLength > 0 {
			// Trust the announced length only so far: reading grows the
			// buffer if the body really is longer.
			buf.Grow(int(min(r.ContentLength, 64<<10)) + bytes.MinRead)
		}
		if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody)); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return h.tooLarge()
			}
			return &problem{status: http.StatusBadRequest, code: CodeInvalidRequest, detail: "Could not read the request body"}
		}
	}
	body := buf.Bytes()
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if ct == "" {
		return &problem{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType}
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return jsonProblem(body, err)
	}
	if i := nulEscape(body); i >= 0 {
		line, col := position(body, int64(i)+1)
		return &problem{status: http.StatusBadRequest, code: CodeInvalidRequest,
			detail: fmt.Sprintf(`Strings must not contain NUL characters (\u0000): line %d, column %d`, line, col)}
	}
	return nil
}

// nulEscape returns the offset of the first \u0000 escape in the strings of
// a valid JSON body, or -1. No client has a reason to send one, and the
// Authenticator refuses NUL in what it stores (ErrInvalidRequest); finding
// it here lets the answer say where it is.
func nulEscape(body []byte) int {
	for i := 0; ; {
		j := bytes.Index(body[i:], []byte(`u0000`))
		if j < 0 {
			return -1
		}
		j += i
		k := j // an escape if an odd number of backslashes come before
		for k > 0 && body[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 1 {
			return j - 1
		}
		i = j + 1
	}
}

// tooLarge is the problem of a body over the limit.
func (h *Handler) tooLarge() *problem {
	return &problem{status: http.StatusRequestEntityTooLarge, code: CodeBodyTooLarge,
		detail: fmt.Sprintf("Request body too large: the limit is %d bytes", h.maxBody)}
}

// isJSONMediaType accepts application/json and application/*+json, with
// any parameters.
func isJSONMediaType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	if strings.EqualFold(mt, "application/json") {
		return true
	}
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && strings.EqualFold(typ, "application") &&
		len(sub) > len("+json") && strings.EqualFold(sub[len(sub)-len("+json"):], "+json")
}

// jsonProblem describes a json.Unmarshal error as a 400.
func jsonProblem(body []byte, err error) *problem {
	p := &problem{status: http.StatusBadRequest, code: CodeInvalidRequest}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) {
		line, col := position(body, se.Offset)
		p.detail = fmt.Sprintf("Malformed JSON at line %d, column %d: %s", line, col, se.Error())
		return p
	}
	if errors.As(err, &te) {
		if strings.HasPrefix(te.Value, "number ") {
			// encoding/json's report of a number its Go type cannot hold
			// (1e400 in metadata): said without quoting it.
			p.detail = cmp.Or(te.Field, "The request body") + " holds a number out of range"
			return p
		}
		if te.Field == "" {
			p.detail = "Request body must be a JSON object, not " + describeValue(te.Value)
		} else {
			p.detail = fmt.Sprintf("%s must be %s, not %s", te.Field, describeType(te.Type), describeValue(te.Value))
		}
		return p
	}
	p.detail = "Malformed JSON: " + err.Error()
	return p
}

// position returns the 1-based line and column of the byte before offset
// (the byte at which a json.SyntaxError was found).
func position(body []byte, offset int64) (line, col int) {
	i := int(min(max(offset-1, 0), int64(len(body))))
	before := body[:i]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = i - bytes.LastIndexByte(before, '\n')
	return line, col
}

// Kinds of number that a stringOrNumber refuses, as its
// json.UnmarshalTypeError reports them. Unlike encoding/json's report of a
// number its Go type cannot hold ("number 1e400", see jsonProblem), they
// do not start with "number ".
const (
	negativeNumber     = "negative number"
	numberWithFraction = "fraction or exponent"
)

// describeValue names a JSON value kind as json.UnmarshalTypeError reports
// it.
func describeValue(v string) string {
	switch v {
	case "bool":
		return "a boolean"
	case "object":
		return "an object"
	case "array":
		return "an array"
	case "string":
		return "a string"
	case "number":
		return "a number"
	case negativeNumber:
		return "a negative number"
	case numberWithFraction:
		return "a number with a fraction or an exponent"
	}
	return v
}

// describeType names what a Go field type accepts.
func describeType(t reflect.Type) string {
	if t == reflect.TypeFor[stringOrNumber]() {
		return "a string or a whole number"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "an object"
	}
	return t.String()
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// stringOrNumber is a JSON field that is a string or a whole non-negative
// number, such as a code sent as 5678. It keeps the text. null leaves it
// empty.
type stringOrNumber struct {
	text   string
	number bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *stringOrNumber) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		v.number = false
		// json.Unmarshal has checked b: without escapes and with valid
		// UTF-8 (every code) it is its own text, and the second decoding
		// of a nested json.Unmarshal can be spared.
		if inner := b[1 : len(b)-1]; !bytes.ContainsRune(inner, '\\') && utf8.Valid(inner) {
			v.text = string(inner)
			return nil
		}
		return json.Unmarshal(b, &v.text)
	case string(b) == "null":
		return nil
	case len(b) > 0 && allDigits(b):
		v.text, v.number = string(b), true
		return nil
	}
	// The error names the kind of value, never its text: a number here may
	// be the user's code (249364.0), and answers do not repeat codes.
	kind := numberWithFraction
	switch b[0] {
	case 't', 'f':
		kind = "bool"
	case '{':
		kind = "object"
	case '[':
		kind = "array"
	case '-':
		kind = negativeNumber
	}
	return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[stringOrNumber]()}
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String returns the text, trimmed of spaces.
func (v stringOrNumber) String() string { return strings.TrimSpace(v.text) }

// required is the problem of a missing field.
func required(field string) *problem {
	return &problem{status: http.StatusBadRequest, code: CodeInvalidRequest, detail: field + " is required"}
}

// inputProblem is the problem of err, a *phoneauth.InputError, with the
// field named as names say; nil if err is nil.
func inputProblem(err error, names fieldNames) *problem {
	if err == nil {
		return nil
	}
	return problemFor(err, names)
}
