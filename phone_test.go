package phoneauth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestParsePhoneAccepts(t *testing.T) {
	tests := []struct {
		number, country string
		e164, region    string
		typ             NumberType
	}{
		// Pakistan: every documented form.
		{"+923012345678", "", "+923012345678", "PK", NumberMobile},
		{"923012345678", "PK", "+923012345678", "PK", NumberMobile},
		{"03012345678", "PK", "+923012345678", "PK", NumberMobile},
		{"3012345678", "PK", "+923012345678", "PK", NumberMobile},
		{"0301 2345678", "pk", "+923012345678", "PK", NumberMobile},
		{"(0301) 234-5678", " Pk ", "+923012345678", "PK", NumberMobile},
		{"0301.234.5678", "+92", "+923012345678", "PK", NumberMobile},
		{"00923012345678", "PK", "+923012345678", "PK", NumberMobile},
		{"  +92 301 234 5678  ", "", "+923012345678", "PK", NumberMobile},
		{"+92-301-2345678", "IN", "+923012345678", "PK", NumberMobile}, // the number's own code wins
		{"۰۳۰۱۲۳۴۵۶۷۸", "PK", "+923012345678", "PK", NumberMobile},     // Eastern Arabic digits
		// India with a calling code as country.
		{"9876543219", "+91", "+919876543219", "IN", NumberMobile},
		{"9876543219", "91", "+919876543219", "IN", NumberMobile},
		{"919876543219", "IN", "+919876543219", "IN", NumberMobile},
		{"09876543219", "IN", "+919876543219", "IN", NumberMobile},
		// Seed 002's examples.
		{"+12345678901", "", "+12345678901", "US", NumberFixedLineOrMobile},
		{"+447123456789", "", "+447123456789", "GB", NumberMobile},
		{"07123 456789", "GB", "+447123456789", "GB", NumberMobile},
		{"+61412345678", "", "+61412345678", "AU", NumberMobile},
		{"0412 345 678", "AU", "+61412345678", "AU", NumberMobile},
		{"+4915123456789", "", "+4915123456789", "DE", NumberMobile},
		{"01512 3456789", "DE", "+4915123456789", "DE", NumberMobile},
		// Without "+", the mobile reading wins over a valid landline one.
		{"4915123456789", "DE", "+4915123456789", "DE", NumberMobile},
		// +1: the main country is the US, but the number's region is kept.
		{"(202) 555-0123", "+1", "+12025550123", "US", NumberFixedLineOrMobile},
		{"1 416 555 0123", "US", "+14165550123", "CA", NumberFixedLineOrMobile},
		// Types other than mobile parse fine; the policy refuses them.
		{"+1 800 555 1234", "", "+18005551234", "US", NumberTollFree},
		{"09098 790000", "GB", "+449098790000", "GB", NumberPremiumRate},
		{"+80012345678", "", "+80012345678", "001", NumberTollFree},
		// Satellite and international networks: mobile numbers of no country.
		{"+870 301 234 567", "", "+870301234567", "001", NumberMobile},
		{"+881 612 345 678", "", "+881612345678", "001", NumberMobile},
		{"+882 3421 234", "", "+8823421234", "001", NumberMobile},
	}
	for _, tt := range tests {
		t.Run(tt.number+"/"+tt.country, func(t *testing.T) {
			ph, err := ParsePhone(tt.number, tt.country)
			if err != nil {
				t.Fatalf("ParsePhone(%q, %q): %v", tt.number, tt.country, err)
			}
			want := Phone{E164: tt.e164, Region: tt.region, Type: tt.typ}
			if ph != want {
				t.Errorf("ParsePhone(%q, %q) = %+v, want %+v", tt.number, tt.country, ph, want)
			}
		})
	}
}

func TestParsePhoneRejects(t *testing.T) {
	tests := []struct {
		number, country string
		reason          string // in the error text
	}{
		{"", "PK", "empty"},
		{"   ", "PK", "empty"},
		{"+", "", "no digits"},
		{"()-", "PK", "no digits"},
		{"03012345678", "", "needs a country"},
		{"923012345678", "", "needs a country"},
		{"00923012345678", "", "needs a country"},
		{"03012345678", "XX", "unknown country"},
		{"03012345678", "PAK", "unknown country"},
		{"03012345678", "P", "unknown country"},
		{"+923012345678", "XX", "unknown country"}, // a given country must be known
		{"03012345678", "Pakistan!", "unknown country"},
		{"03012345678", "Pakistan", "unknown country"},
		{"3012345678", "+999", "has no country"},
		{"12345678", "+800", "has no country"}, // non-geographic: no national numbers
		{"2025550123", "001", "unknown calling code"},
		{"2025550123", "+1234", "unknown calling code"},
		{"+92301234567", "", "not a valid number"}, // one digit short
		{"+9230123456789", "", "not a valid number"},
		{"12345", "PK", "not a valid number"},
		{"+12345678901234567890", "", "cannot be parsed"},
		{"+99912345678", "", "cannot be parsed"}, // no such calling code
		{"+1 800 FLOWERS", "", "unexpected character"},
		{"+92 301 2345678 ext 5", "", "unexpected character"},
		{"+923012345678;ext=5", "", "unexpected character"},
		{"tel:+923012345678", "", "unexpected character"},
		{"+92+3012345678", "", "unexpected character"},
		{"+" + strings.Repeat("1", 64), "", "too long"},
		{strings.Repeat(" ", 60) + "+923012345678", "", "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.number+"/"+tt.country, func(t *testing.T) {
			ph, err := ParsePhone(tt.number, tt.country)
			if !errors.Is(err, ErrInvalidPhone) {
				t.Fatalf("ParsePhone(%q, %q) = %+v, %v; want ErrInvalidPhone", tt.number, tt.country, ph, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
			countryErr := strings.Contains(tt.reason, "country") && tt.country != "" || strings.Contains(tt.reason, "calling code")
			if countryErr != errors.Is(err, ErrInvalidCountry) {
				t.Errorf("error %q: matches ErrInvalidCountry %v, want %v", err, !countryErr, countryErr)
			}
			if d := digitsOf(tt.number); len(d) >= 6 && strings.Contains(err.Error(), d) {
				t.Errorf("error %q contains the number", err)
			}
			if ph != (Phone{}) {
				t.Errorf("got a Phone %+v with the error", ph)
			}
		})
	}
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestNumberTypeString(t *testing.T) {
	for typ, want := range map[NumberType]string{
		NumberUnknown:           "unknown",
		NumberMobile:            "mobile",
		NumberFixedLineOrMobile: "fixed-line-or-mobile",
		NumberPremiumRate:       "premium-rate",
		NumberVoicemail:         "voicemail",
		NumberType(42):          "NumberType(42)",
		NumberType(-1):          "NumberType(-1)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("NumberType(%d).String() = %q, want %q", int(typ), got, want)
		}
	}
}

func TestNumberTypeMapping(t *testing.T) {
	seen := map[NumberType]bool{}
	for pt, want := range map[phonenumbers.PhoneNumberType]NumberType{
		phonenumbers.MOBILE:               NumberMobile,
		phonenumbers.FIXED_LINE:           NumberFixedLine,
		phonenumbers.FIXED_LINE_OR_MOBILE: NumberFixedLineOrMobile,
		phonenumbers.TOLL_FREE:            NumberTollFree,
		phonenumbers.PREMIUM_RATE:         NumberPremiumRate,
		phonenumbers.SHARED_COST:          NumberSharedCost,
		phonenumbers.VOIP:                 NumberVoIP,
		phonenumbers.PERSONAL_NUMBER:      NumberPersonal,
		phonenumbers.PAGER:                NumberPager,
		phonenumbers.UAN:                  NumberUAN,
		phonenumbers.VOICEMAIL:            NumberVoicemail,
		phonenumbers.UNKNOWN:              NumberUnknown,
	} {
		if got := numberType(pt); got != want {
			t.Errorf("numberType(%v) = %v, want %v", pt, got, want)
		}
		seen[want] = true
	}
	if len(seen) != len(numberTypeNames) {
		t.Errorf("%d types mapped, %d declared", len(seen), len(numberTypeNames))
	}
}

func mustParse(t *testing.T, number, country string) Phone {
	t.Helper()
	ph, err := ParsePhone(number, country)
	if err != nil {
		t.Fatalf("ParsePhone(%q, %q): %v", number, country, err)
	}
	return ph
}

func TestPhonePolicyCheck(t *testing.T) {
	pk := mustParse(t, "+923012345678", "")
	us := mustParse(t, "+12025550123", "")
	gbLandline := mustParse(t, "+442071234567", "")
	gbPremium := mustParse(t, "+449098790000", "")
	usTollFree := mustParse(t, "+18005551234", "")
	frSharedCost := mustParse(t, "+33810123456", "")
	inmarsat := mustParse(t, "+870301234567", "")
	iridium := mustParse(t, "+881612345678", "")
	if gbLandline.Type != NumberFixedLine || frSharedCost.Type != NumberSharedCost || inmarsat.Type != NumberMobile {
		t.Fatalf("test numbers have unexpected types: %v, %v, %v", gbLandline.Type, frSharedCost.Type, inmarsat.Type)
	}
	const satellite = "satellite and international-network numbers"

	tests := []struct {
		name   string
		policy PhonePolicy
		ph     Phone
		refuse string // "" = allowed; else in the error text
	}{
		{"default mobile", PhonePolicy{}, pk, ""},
		{"default fixed-line-or-mobile", PhonePolicy{}, us, ""},
		{"default premium", PhonePolicy{}, gbPremium, "premium-rate numbers"},
		{"default toll-free", PhonePolicy{}, usTollFree, "toll-free numbers"},
		{"default shared-cost", PhonePolicy{}, frSharedCost, "shared-cost numbers"},
		{"default landline", PhonePolicy{}, gbLandline, "fixed-line numbers"},
		{"empty types is default", PhonePolicy{AllowedTypes: []NumberType{}}, gbPremium, "premium-rate"},
		{"landlines allowed", PhonePolicy{AllowedTypes: []NumberType{NumberMobile, NumberFixedLine}}, gbLandline, ""},
		{"explicit types replace the default", PhonePolicy{AllowedTypes: []NumberType{NumberFixedLine}}, pk, "mobile numbers"},
		{"allow list in", PhonePolicy{AllowCountries: []string{"pk", "IN"}}, pk, ""},
		{"allow list out", PhonePolicy{AllowCountries: []string{"PK", "IN"}}, us, "numbers of US"},
		{"deny list in", PhonePolicy{DenyCountries: []string{"us"}}, us, "numbers of US"},
		{"deny list out", PhonePolicy{DenyCountries: []string{"US"}}, pk, ""},
		{"deny wins over allow", PhonePolicy{AllowCountries: []string{"PK"}, DenyCountries: []string{"PK"}}, pk, "numbers of PK"},
		{"type checked before country", PhonePolicy{AllowCountries: []string{"GB"}}, gbPremium, "premium-rate"},
		{"default satellite", PhonePolicy{}, inmarsat, satellite},
		{"default international network", PhonePolicy{}, iridium, satellite},
		{"deny list without 001", PhonePolicy{DenyCountries: []string{"RU"}}, inmarsat, satellite},
		{"non-geographic allowed", PhonePolicy{AllowNonGeographic: true}, inmarsat, ""},
		{"001 on the allow list", PhonePolicy{AllowCountries: []string{"PK", "001"}}, iridium, ""},
		{"allow list without 001", PhonePolicy{AllowCountries: []string{"PK"}, AllowNonGeographic: true}, iridium, "numbers of 001"},
		{"001 denied", PhonePolicy{AllowNonGeographic: true, DenyCountries: []string{"001"}}, inmarsat, "numbers of 001"},
		{"001 denied over allowed", PhonePolicy{AllowCountries: []string{"001"}, DenyCountries: []string{" 001 "}}, iridium, "numbers of 001"},
		{"001 on a deny list leaves others", PhonePolicy{DenyCountries: []string{"001"}}, pk, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.ph)
			switch {
			case tt.refuse == "" && err != nil:
				t.Errorf("Check(%s) = %v, want nil", tt.ph.E164, err)
			case tt.refuse != "" && !errors.Is(err, ErrPhoneNotAllowed):
				t.Errorf("Check(%s) = %v, want ErrPhoneNotAllowed", tt.ph.E164, err)
			case tt.refuse != "" && !strings.Contains(err.Error(), tt.refuse):
				t.Errorf("Check(%s) = %q, want it to say %q", tt.ph.E164, err, tt.refuse)
			}
		})
	}
}

func TestPhonePolicyValidate(t *testing.T) {
	good := []PhonePolicy{
		{},
		{AllowedTypes: []NumberType{NumberMobile, NumberVoicemail, NumberUnknown}},
		{AllowCountries: []string{"PK", "in", " gb "}, DenyCountries: []string{"RU"}},
		{AllowCountries: []string{"PK", "001"}, DenyCountries: []string{" 001"}},
	}
	for _, p := range good {
		if err := p.validate(); err != nil {
			t.Errorf("%+v.validate() = %v, want nil", p, err)
		}
	}
	bad := []PhonePolicy{
		{AllowedTypes: []NumberType{NumberType(99)}},
		{AllowedTypes: []NumberType{-1}},
		{AllowCountries: []string{"PK", "XX"}},
		{AllowCountries: []string{"Pakistan"}},
		{DenyCountries: []string{"+92"}},
		{DenyCountries: []string{""}},
		{DenyCountries: []string{"01"}},
		{AllowCountries: []string{"0001"}},
		{DenyCountries: []string{"870"}},
	}
	for _, p := range bad {
		if err := p.validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v.validate() = %v, want ErrInvalidConfig", p, err)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+923012345678", "+92******5678"},
		{"+12025550123", "+1******0123"},
		{"+4915123456789", "+49*******6789"},
		{"+447123456789", "+44******6789"},
		{"+80012345678", "+800****5678"},
		{"+9230123", "+92***23"}, // 5 national digits: keep 2
		{"+921", "+92*"},
		{"+92", "***"}, // no national digits: masked as odd input
		{"+", "*"},
		{"", ""},
		{"abc", "***"},
		{"0301 2345678", "*********678"},
		{"+99912345678", "*********678"}, // no such calling code
		{"ключ-ключ-ключ", "***********люч"},
		{strings.Repeat("9", 65), "***"},
	}
	for _, tt := range tests {
		if got := MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskPhoneHidesMostDigits(t *testing.T) {
	for _, s := range []string{"+923012345678", "+12025550123", "+4915123456789", "+80012345678", "+9230123"} {
		m := MaskPhone(s)
		if len(m) != len(s) {
			t.Errorf("MaskPhone(%q) = %q: length changed", s, m)
		}
		if masked := strings.Count(m, "*"); masked*2 < len(s)-4 {
			t.Errorf("MaskPhone(%q) = %q masks too little", s, m)
		}
	}
}

func TestPhoneParserCaches(t *testing.T) {
	p := newPhoneParser(100)
	for range 3 {
		ph, err := p.parse("03012345678", "PK")
		if err != nil || ph.E164 != "+923012345678" {
			t.Fatalf("parse = %+v, %v", ph, err)
		}
		if _, err := p.parse("12345", "PK"); !errors.Is(err, ErrInvalidPhone) {
			t.Fatalf("parse of an invalid number = %v, want ErrInvalidPhone", err)
		}
	}
	if n := p.len(); n != 2 {
		t.Errorf("cache holds %d results after 2 distinct inputs, want 2", n)
	}
	// The key is (number, country), not the number alone.
	if _, err := p.parse("03012345678", ""); !errors.Is(err, ErrInvalidPhone) {
		t.Errorf("parse without a country hit the cached PK result: %v", err)
	}
	// Over-long input is not cached.
	if _, err := p.parse(strings.Repeat("1", 100), "PK"); !errors.Is(err, ErrInvalidPhone) {
		t.Errorf("long input: %v", err)
	}
	if n := p.len(); n != 3 {
		t.Errorf("cache holds %d results, want 3", n)
	}

	var nilParser *phoneParser
	if ph, err := nilParser.parse("+923012345678", ""); err != nil || ph.E164 != "+923012345678" {
		t.Errorf("nil parser: %+v, %v", ph, err)
	}
}

func TestPhoneParserBounded(t *testing.T) {
	for _, size := range []int{2, 10, 1000, 5000} {
		p := newPhoneParser(size)
		for i := range 3 * size {
			// Cheap inputs (rejected before phonenumbers), all distinct.
			if _, err := p.parse(fmt.Sprintf("x%d", i), "PK"); err == nil {
				t.Fatal("parse of junk succeeded")
			}
			if n := p.len(); n > size {
				t.Fatalf("size %d: cache holds %d results after %d inputs", size, n, i+1)
			}
		}
		// The most recent entries are still cached.
		if _, ok := p.lookup(fmt.Sprintf("x%d", 3*size-1), "PK"); !ok {
			t.Errorf("size %d: the last input is not cached", size)
		}
	}
	if p := newPhoneParser(0); p.gen*2*len(p.shards) > defaultPhoneCacheSize || p.gen*2*len(p.shards) < defaultPhoneCacheSize*99/100 {
		t.Errorf("default cache: %d shards of 2×%d entries, want about %d in all", len(p.shards), p.gen, defaultPhoneCacheSize)
	}
}

// lookup reports whether (number, country) is cached, without parsing.
func (p *phoneParser) lookup(number, country string) (phoneResult, bool) {
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		r, ok := s.cur[phoneKey{number, country}]
		if !ok {
			r, ok = s.old[phoneKey{number, country}]
		}
		s.mu.Unlock()
		if ok {
			return r, true
		}
	}
	return phoneResult{}, false
}

func TestPhoneParserRecentStay(t *testing.T) {
	// A number used all the time survives any amount of churn.
	p := newPhoneParser(8)
	for i := range 1000 {
		if ph, err := p.parse("+923012345678", ""); err != nil || ph.E164 != "+923012345678" {
			t.Fatalf("parse = %+v, %v", ph, err)
		}
		p.parse(fmt.Sprintf("junk%d", i), "")
		if _, ok := p.lookup("+923012345678", ""); !ok {
			t.Fatalf("hot number evicted after %d other inputs", i+1)
		}
	}
}

func TestPhoneParserConcurrent(t *testing.T) {
	p := newPhoneParser(4096) // several shards
	inputs := []struct{ number, country, e164 string }{
		{"+923012345678", "", "+923012345678"},
		{"03012345678", "PK", "+923012345678"},
		{"9876543219", "+91", "+919876543219"},
		{"+447123456789", "", "+447123456789"},
		{"12345", "PK", ""},
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				in := inputs[(g+i)%len(inputs)]
				ph, err := p.parse(in.number, in.country)
				if ph.E164 != in.e164 || (err == nil) != (in.e164 != "") {
					t.Errorf("parse(%q, %q) = %+v, %v", in.number, in.country, ph, err)
					return
				}
				p.parse(fmt.Sprintf("junk%d-%d", g, i), "PK") // churn
			}
		}()
	}
	wg.Wait()
	if n := p.len(); n > 4096 {
		t.Errorf("cache holds %d results, over its size", n)
	}
}

func FuzzParsePhone(f *testing.F) {
	for _, s := range [][2]string{
		{"+923012345678", ""}, {"923012345678", "PK"}, {"03012345678", "pk"}, {"9876543219", "+91"},
		{"4915123456789", "DE"}, {"(202) 555-0123", "1"}, {"00923012345678", "PK"}, {"+80012345678", ""},
		{"۰۳۰۱۲۳۴۵۶۷۸", "PK"}, {"+1 800 FLOWERS", ""}, {"12345", "XX"}, {"+", ""}, {"0", "+999"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, number, country string) {
		ph, err := ParsePhone(number, country)
		m := MaskPhone(number) // must not panic either
		if len(m) > len(number) && len(number) <= maxPhoneInput {
			t.Errorf("MaskPhone(%q) = %q grew", number, m)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidPhone) {
				t.Fatalf("ParsePhone(%q, %q): error %v does not match ErrInvalidPhone", number, country, err)
			}
			return
		}
		if !strings.HasPrefix(ph.E164, "+") || len(ph.E164) < 3 || !isDigits(ph.E164[1:]) {
			t.Fatalf("ParsePhone(%q, %q) = %+v: not E.164", number, country, ph)
		}
		again, err := ParsePhone(ph.E164, "")
		if err != nil || again != ph {
			t.Fatalf("ParsePhone(%q, %q) = %+v, which parses to %+v, %v", number, country, ph, again, err)
		}
		if m := MaskPhone(ph.E164); len(m) != len(ph.E164) || m == ph.E164 {
			t.Fatalf("MaskPhone(%q) = %q", ph.E164, m)
		}
	})
}

func BenchmarkParsePhone(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePhone("0301 2345678", "PK"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePhoneE164 parses new numbers in E.164 form, as a sign-in
// with a client that formats numbers does.
func BenchmarkParsePhoneE164(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := ParsePhone("+92300"+strconv.Itoa(1_000_000+n%9_000_000), ""); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

func BenchmarkPhoneParserCached(b *testing.B) {
	p := newPhoneParser(0)
	if _, err := p.parse("0301 2345678", "PK"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.parse("0301 2345678", "PK"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// e164Cases are numbers on both sides of parseE164's limits, with whether
// it answers them itself (the others go through phonenumbers.Parse).
var e164Cases = []struct {
	number string
	fast   bool
}{
	{"+923012345678", true},          // Pakistan, mobile
	{"+14155550123", true},           // NANP: +1 is the United States'
	{"+16135550123", true},           // NANP, a Canadian number
	{"+4915123456789", true},         // Germany, mobile
	{"+393123456789", true},          // Italy, mobile: no leading zero
	{"+390612345678", false},         // Italy, Rome: the leading zero is part of the number
	{"+4407911123456", false},        // the UK's national prefix after the calling code
	{"+447911123456", true},          // the same number, well written
	{"+79123456789", true},           // Russia, mobile
	{"+78001234567", false},          // Russia: "8", the national prefix, starts the rest
	{"+5491123456789", false},        // Argentina: the national prefix is a pattern
	{"+80012345678", false},          // non-geographic freephone
	{"+88213612345", false},          // non-geographic network
	{"+262262123456", true},          // Réunion, which shares +262 with Mayotte
	{"+0923012345678", false},        // no calling code starts with 0
	{"+999123456", false},            // no such calling code
	{"+92", false},                   // calling code only
	{"+921", false},                  // national number too short
	{"+92123456789012345678", false}, // national number too long
	{"+44 7911 123456", false},       // spaces
	{"+49-151-23456789", false},
	{"+(92)3012345678", false},
	{"923012345678", false},  // no "+"
	{"+٩٢٣٠١٢٣٤٥٦٧٨", false}, // Arabic-Indic digits
	{"+1 800 FLOWERS", false},
	{"+", false},
	{"", false},
}

func TestParseE164(t *testing.T) {
	for _, c := range e164Cases {
		_, fast := parseE164(c.number)
		if fast != c.fast {
			t.Errorf("parseE164(%q): answered %v, want %v", c.number, fast, c.fast)
		}
		checkParseE164(t, c.number, "")
		checkParseE164(t, c.number, "IT")
	}
}

// FuzzParseE164 checks that parseE164, when it answers, answers as
// phonenumbers.Parse does, whatever the region ParsePhone passes along; and
// that GetNumberType tells validity as IsValidNumber does. Each input is
// also checked as digits after a "+", the form parseE164 answers.
func FuzzParseE164(f *testing.F) {
	for i, c := range e164Cases {
		f.Add(c.number, "", uint64(i)*123_456_789_012)
		f.Add(c.number, "GB", uint64(923012345678))
	}
	f.Fuzz(func(t *testing.T, number, region string, digits uint64) {
		checkParseE164(t, number, region)
		checkParseE164(t, "+"+strconv.FormatUint(digits, 10), region) // E.164 form, where parseE164 answers
	})
}

func checkParseE164(t *testing.T, number, region string) {
	t.Helper()
	if region = strings.ToUpper(region); region != "" && !isRegion(region) {
		region = "" // ParsePhone passes only a known region, or none
	}
	want, err := phonenumbers.Parse(number, region)
	if err == nil && phonenumbers.IsValidNumber(want) != (phonenumbers.GetNumberType(want) != phonenumbers.UNKNOWN) {
		t.Errorf("%q: IsValidNumber and GetNumberType disagree", number)
	}
	got, ok := parseE164(number)
	if !ok {
		return
	}
	if err != nil {
		t.Fatalf("parseE164(%q) = %v, but Parse(%q, %q) fails: %v", number, got, number, region, err)
	}
	if got.GetCountryCode() != want.GetCountryCode() || got.GetNationalNumber() != want.GetNationalNumber() ||
		got.GetItalianLeadingZero() != want.GetItalianLeadingZero() ||
		got.GetNumberOfLeadingZeros() != want.GetNumberOfLeadingZeros() ||
		got.GetExtension() != want.GetExtension() || got.GetRawInput() != want.GetRawInput() ||
		got.GetCountryCodeSource() != want.GetCountryCodeSource() ||
		got.GetPreferredDomesticCarrierCode() != want.GetPreferredDomesticCarrierCode() {
		t.Fatalf("parseE164(%q) = %v, Parse(%q, %q) = %v", number, got, number, region, want)
	}
}
