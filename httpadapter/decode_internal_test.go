package httpadapter

import (
	"encoding/json"
	"testing"
)

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
