package phoneauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestGenerateCodeIsUniform(t *testing.T) {
	var counts [10]int
	const n = 20000
	for i := 0; i < n/10; i++ {
		code := generateCode(10)
		if len(code) != 10 {
			t.Fatalf("code %q", code)
		}
		for _, c := range code {
			if c < '0' || c > '9' {
				t.Fatalf("code %q", code)
			}
			counts[c-'0']++
		}
	}
	// Each digit is expected n/10 = 2000 times, standard deviation about 42;
	// a biased generator (e.g. byte % 10 without rejection favours 0–5 by
	// 26/25) drifts by about 80 per digit and sums to a chi-square far
	// above the 99.9 % bound of 27.9 (9 degrees of freedom).
	chi2 := 0.0
	for _, c := range counts {
		d := float64(c) - n/10
		chi2 += d * d / (n / 10)
	}
	if chi2 > 27.9 {
		t.Fatalf("digit counts %v, chi-square %.1f", counts, chi2)
	}
}

func TestCodeMACBindsIDPhoneAndSecret(t *testing.T) {
	s1, s2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	base := codeMAC(s1, "id", "+1", "123456")
	for name, other := range map[string][]byte{
		"id":     codeMAC(s1, "id2", "+1", "123456"),
		"phone":  codeMAC(s1, "id", "+2", "123456"),
		"code":   codeMAC(s1, "id", "+1", "123457"),
		"secret": codeMAC(s2, "id", "+1", "123456"),
		"shift":  codeMAC(s1, "id+", "1", "123456"),
	} {
		if bytes.Equal(base, other) {
			t.Errorf("changing the %s keeps the MAC", name)
		}
	}
}

func TestClientAddrKeys(t *testing.T) {
	for in, want := range map[string][]string{
		NoIP:                     nil,
		"192.0.2.1":              {"192.0.2.1"},
		"::ffff:192.0.2.1":       {"192.0.2.1"},
		"2001:db8::1":            {"2001:db8::/64", "2001:db8::/56", "2001:db8::/48"},
		"2001:db8::2%eth0":       {"2001:db8::/64", "2001:db8::/56", "2001:db8::/48"},
		"2001:db8:0:1ff::1":      {"2001:db8:0:1ff::/64", "2001:db8:0:100::/56", "2001:db8::/48"},
		"not-an-ip":              {"unknown"},
		"@":                      {"unknown"},
		strings.Repeat("x", 100): {"unknown"},
	} {
		if got := parseClientAddr(in).keys; !slices.Equal(got, want) {
			t.Errorf("parseClientAddr(%q) = %q, want %q", in, got, want)
		}
	}
	if len(deviceKey(strings.Repeat("d", 10000))) > 80 {
		t.Error("device keys are not bounded")
	}
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", " 123456 ", "12345", "1234567", "12a456", "١٢٣٤٥٦", "", "\t000000\n", "+12345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, ok := normalizeCode(s, 6)
		if !ok {
			return
		}
		if len(code) != 6 || strings.Trim(code, "0123456789") != "" || !strings.Contains(s, code) {
			t.Fatalf("normalizeCode(%q) = %q", s, code)
		}
	})
}

// FuzzCheckMetadata checks checkMetadata against a plain reading of its
// rule on any JSON object: refused exactly when a key or a string, at any
// depth, holds a NUL. Invalid UTF-8 in the input is replaced by decoding,
// as it would be over HTTP.
func FuzzCheckMetadata(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a": "b"}`, `{"a": "\u0000"}`, `{"\u0000": 1}`, `{"a": "\\u0000"}`, `{"a": "\\\u0000"}`,
		`{"a": [1, "x", {"b": "\u0000"}]}`, `{"a": {"b": {"c": null, "d": true, "e": 1.5}}}`, "{\"a\": \"\xff\"}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil {
			return
		}
		var walk func(any) bool // reports a NUL anywhere
		walk = func(v any) bool {
			switch v := v.(type) {
			case string:
				return strings.ContainsRune(v, 0)
			case []any:
				for _, e := range v {
					if walk(e) {
						return true
					}
				}
			case map[string]any:
				for k, e := range v {
					if strings.ContainsRune(k, 0) || walk(e) {
						return true
					}
				}
			}
			return false
		}
		err := checkMetadata(m)
		if want := walk(m); want != (err != nil) {
			t.Fatalf("checkMetadata(%s) = %v, want refused %v", s, err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("checkMetadata(%s) = %v, not ErrInvalidRequest", s, err)
		}
	})
}
