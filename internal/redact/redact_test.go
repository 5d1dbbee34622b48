package redact_test

import (
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/internal/redact"
)

func TestMessage(t *testing.T) {
	masked := phoneauth.MaskPhone("+923012345678")
	for _, tc := range []struct{ text, to, code, want string }{
		{"To +923012345678: code 908172", "+923012345678", "908172", "To " + masked + ": code ******"},
		{"923012345678 unreachable", "+923012345678", "908172", masked + " unreachable"},
		{`{"c":"908172","t":"Your code is 908172."}`, "+923012345678", "908172", `{"c":"******","t":"Your code is ******."}`},
		{"no code in a notice", "+923012345678", "", "no code in a notice"},
		{"a short 12 stays", "+923012345678", "12", "a short 12 stays"},
		{"not E.164: 923012345678", "923012345678", "", "not E.164: 923012345678"},
	} {
		if got := redact.Message(tc.text, tc.to, tc.code); got != tc.want {
			t.Errorf("Message(%q, %q, %q) = %q, want %q", tc.text, tc.to, tc.code, got, tc.want)
		}
	}
}
