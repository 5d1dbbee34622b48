package phoneauth

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Input bounds, checked before any parsing.
const (
	// maxPhoneInput is the longest phone input accepted, in bytes. An E.164
	// number has at most 15 digits; the slack is for punctuation, spaces and
	// non-ASCII digits (2-3 bytes each).
	maxPhoneInput = 64
	// maxCountryInput is the longest country input accepted, in bytes: an
	// ISO code or a calling code with a "+", with room for spaces.
	maxCountryInput = 8
)

// Phone is a parsed, valid phone number.
type Phone struct {
	// E164 is the number in E.164 form, "+923012345678": the key phoneauth
	// stores it under.
	E164 string
	// Region is the ISO 3166-1 alpha-2 region of the number, "PK", or
	// RegionNonGeographic ("001") for a number of no country (+870, +882…).
	Region string
	// Type is the number's type.
	Type NumberType
}

// NumberType is the type of a phone number, as told by its numbering plan.
// The zero value is NumberUnknown.
type NumberType int

// Number types. They mirror libphonenumber's.
const (
	// NumberUnknown is a number whose type cannot be told.
	NumberUnknown NumberType = iota
	// NumberMobile is a mobile number.
	NumberMobile
	// NumberFixedLine is a landline.
	NumberFixedLine
	// NumberFixedLineOrMobile is a number of a plan that does not tell
	// landlines and mobiles apart (the United States, Canada…).
	NumberFixedLineOrMobile
	// NumberTollFree is a free-phone number, paid by the callee.
	NumberTollFree
	// NumberPremiumRate is a premium-rate number: the classic target of
	// SMS pumping fraud.
	NumberPremiumRate
	// NumberSharedCost is a number whose cost is split between caller and
	// callee.
	NumberSharedCost
	// NumberVoIP is a voice-over-IP number.
	NumberVoIP
	// NumberPersonal is a personal number, routed to another line.
	NumberPersonal
	// NumberPager is a pager.
	NumberPager
	// NumberUAN is a "universal access number", a company number routed
	// to one of its offices.
	NumberUAN
	// NumberVoicemail is a number that reaches a voicemail box directly.
	NumberVoicemail
)

var numberTypeNames = [...]string{
	NumberUnknown:           "unknown",
	NumberMobile:            "mobile",
	NumberFixedLine:         "fixed-line",
	NumberFixedLineOrMobile: "fixed-line-or-mobile",
	NumberTollFree:          "toll-free",
	NumberPremiumRate:       "premium-rate",
	NumberSharedCost:        "shared-cost",
	NumberVoIP:              "voip",
	NumberPersonal:          "personal",
	NumberPager:             "pager",
	NumberUAN:               "uan",
	NumberVoicemail:         "voicemail",
}

// String returns the type's name in lower case with dashes, such as
// "premium-rate".
func (t NumberType) String() string {
	if t.valid() {
		return numberTypeNames[t]
	}
	return "NumberType(" + strconv.Itoa(int(t)) + ")"
}

func (t NumberType) valid() bool { return t >= 0 && int(t) < len(numberTypeNames) }

// numberType converts a libphonenumber type, so that phonenumbers' types
// stay out of the public API.
func numberType(t phonenumbers.PhoneNumberType) NumberType {
	switch t {
	case phonenumbers.MOBILE:
		return NumberMobile
	case phonenumbers.FIXED_LINE:
		return NumberFixedLine
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return NumberFixedLineOrMobile
	case phonenumbers.TOLL_FREE:
		return NumberTollFree
	case phonenumbers.PREMIUM_RATE:
		return NumberPremiumRate
	case phonenumbers.SHARED_COST:
		return NumberSharedCost
	case phonenumbers.VOIP:
		return NumberVoIP
	case phonenumbers.PERSONAL_NUMBER:
		return NumberPersonal
	case phonenumbers.PAGER:
		return NumberPager
	case phonenumbers.UAN:
		return NumberUAN
	case phonenumbers.VOICEMAIL:
		return NumberVoicemail
	}
	return NumberUnknown
}

// smsCapable reports whether numbers of type t normally receive text
// messages: the default of PhonePolicy.AllowedTypes.
func (t NumberType) smsCapable() bool {
	return t == NumberMobile || t == NumberFixedLineOrMobile
}

// invalidPhone returns an error matching ErrInvalidPhone. The reason must
// never contain the number itself: errors end up in logs.
func invalidPhone(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidPhone, reason)
}

// ParsePhone parses and validates a phone number.
//
// number is the number as the user typed it: in international form with a
// leading "+" ("+92 301 2345678"), in international form without the "+"
// ("923012345678"), in national form ("0301 2345678", "3012345678") or
// after the country's international call prefix ("00923012345678"). Spaces,
// dashes, dots, slashes and parentheses are ignored; any Unicode decimal
// digits are accepted. Letters (vanity numbers, extensions) are not.
//
// country is the country the number belongs to when it has no "+": an ISO
// 3166-1 alpha-2 code in any case ("PK", "pk") or a calling code ("+92",
// "92"); a calling code shared by several countries means its main one
// (+1 is the United States, and a Canadian number still parses as CA). It
// may be empty when number starts with "+"; when both are given, the
// number's own calling code wins, but country must still be a known one.
//
// Without a "+", digits that start with the country's calling code are
// read as an international number without its "+" when that reading is a
// valid number and the national reading is either invalid or not a mobile
// one: "923012345678" with PK is +923012345678, and "4915123456789" with DE
// is the mobile +49 1512 3456789 rather than a landline in Leer.
//
// Every error matches ErrInvalidPhone and never contains the number. The
// result says nothing about whether the number may receive codes: see
// PhonePolicy.
func ParsePhone(number, country string) (Phone, error) {
	if len(number) > maxPhoneInput {
		return Phone{}, invalidPhone("too long")
	}
	number = strings.TrimSpace(number)
	if number == "" {
		return Phone{}, invalidPhone("empty")
	}
	plus := number[0] == '+'
	digits := 0
	for i, r := range number {
		switch {
		case r >= '0' && r <= '9', unicode.IsDigit(r):
			digits++
		case r == '+' && i == 0:
		case r == '(' || r == ')' || r == '.' || r == '/' || unicode.IsSpace(r) || unicode.Is(unicode.Pd, r):
		default:
			return Phone{}, invalidPhone("unexpected character")
		}
	}
	if digits == 0 {
		return Phone{}, invalidPhone("no digits")
	}

	region, callingCode, err := parseCountry(country)
	if err != nil {
		return Phone{}, err
	}
	if !plus && region == "" {
		return Phone{}, invalidPhone("a number without + needs a country")
	}

	pn, err := parseNumber(number, region)
	if err != nil {
		return Phone{}, err
	}
	if !plus {
		// Maybe an international number without its "+" that libphonenumber
		// read as a national one: try the "+" reading.
		national, err := asciiDigits(number)
		if err == nil && strings.HasPrefix(national, strconv.Itoa(callingCode)) {
			intl, err := parseNumber("+"+national, "")
			if err == nil && phonenumbers.IsValidNumber(intl) &&
				(!phonenumbers.IsValidNumber(pn) || (!numberType(phonenumbers.GetNumberType(pn)).smsCapable() &&
					numberType(phonenumbers.GetNumberType(intl)).smsCapable())) {
				pn = intl
			}
		}
	}
	if pn.GetExtension() != "" {
		return Phone{}, invalidPhone("extensions are not accepted")
	}
	// IsValidNumber is GetNumberType != UNKNOWN: both match the number
	// against the patterns of the region GetRegionCodeForNumber picks, so
	// asking for the type once tells both.
	t := phonenumbers.GetNumberType(pn)
	if t == phonenumbers.UNKNOWN {
		return Phone{}, invalidPhone("not a valid number")
	}
	return Phone{
		E164:   phonenumbers.Format(pn, phonenumbers.E164),
		Region: phonenumbers.GetRegionCodeForNumber(pn),
		Type:   numberType(t),
	}, nil
}

// parseNumber calls phonenumbers.Parse, turning its errors (and, as a last
// line of defence for a library fed untrusted input, its panics) into
// ErrInvalidPhone. A number in E.164 form takes parseE164 instead.
func parseNumber(number, region string) (pn *phonenumbers.PhoneNumber, err error) {
	if pn, ok := parseE164(number); ok {
		return pn, nil
	}
	defer func() {
		if recover() != nil {
			pn, err = nil, invalidPhone("cannot be parsed")
		}
	}()
	pn, err = phonenumbers.Parse(number, region)
	if err != nil {
		return nil, invalidPhone("cannot be parsed")
	}
	return pn, nil
}

// parseE164 returns what phonenumbers.Parse returns for a number written
// in E.164 form, "+" and ASCII digits (the form apps usually send), without
// Parse's regular expressions, which cost about two thirds of a number's
// parsing; ok is false for any number it is not sure of, which then goes
// through Parse. The region does not matter: a number with its calling code
// is read with that code's metadata.
//
// On such input Parse finds no extension, takes the calling code as the
// first one to three digits that are one, and keeps the rest as the
// national number, unless the rest starts with what the calling code's
// country reads as a national prefix ("0" in most countries, "8" in some),
// which it may strip. parseE164 leaves to Parse: a national prefix given as
// a pattern other than digits or a choice of digits; a rest that starts
// with such a prefix or with "0" (Italian leading zeros); a rest of a
// length Parse refuses; the non-geographic calling codes. FuzzParseE164
// checks it against Parse.
func parseE164(number string) (*phonenumbers.PhoneNumber, bool) {
	if len(number) < 2 || number[0] != '+' || !isDigits(number[1:]) || number[1] == '0' {
		return nil, false
	}
	digits := number[1:]
	n := callingCodeLen(digits)
	if n == 0 {
		return nil, false
	}
	national := digits[n:]
	cc, _ := strconv.Atoi(digits[:n])
	prefix, known := nationalPrefixes()[phonenumbers.GetRegionCodeForCountryCode(cc)]
	if !known || len(national) < phonenumbers.MIN_LENGTH_FOR_NSN || len(national) > phonenumbers.MAX_LENGTH_FOR_NSN ||
		national[0] == '0' || mayStartWithPrefix(national, prefix) {
		return nil, false
	}
	nn, err := strconv.ParseUint(national, 10, 64)
	if err != nil {
		return nil, false
	}
	code := int32(cc)
	return &phonenumbers.PhoneNumber{CountryCode: &code, NationalNumber: &nn}, true
}

// mayStartWithPrefix reports whether national may start with a national
// prefix of pattern, a regular expression of the metadata: "" (no prefix)
// never does; digits ("0") or a choice of digits ("0|180020") do when
// national starts with one of them; any other pattern may.
func mayStartWithPrefix(national, pattern string) bool {
	if pattern == "" {
		return false
	}
	for p := range strings.SplitSeq(pattern, "|") {
		if !isDigits(p) || strings.HasPrefix(national, p) {
			return true
		}
	}
	return false
}

// nationalPrefixes maps each country (ISO code) to the national prefix
// phonenumbers.Parse strips from its numbers, a pattern of its metadata
// ("" for none); the non-geographic entities are left out.
var nationalPrefixes = sync.OnceValue(func() map[string]string {
	m := make(map[string]string)
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return m // every number goes through Parse
	}
	for _, md := range coll.GetMetadata() {
		if id := md.GetId(); id != RegionNonGeographic {
			m[id] = md.GetNationalPrefixForParsing()
		}
	}
	return m
})

// asciiDigits returns the decimal digits of s as ASCII, dropping everything
// else.
func asciiDigits(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !unicode.IsDigit(r) {
			continue
		}
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
			continue
		}
		// Other scripts' digits: libphonenumber knows their values.
		d := phonenumbers.NormalizeDigitsOnly(string(r))
		if len(d) != 1 {
			return "", errors.New("unknown digit")
		}
		b.WriteString(d)
	}
	return b.String(), nil
}

// parseCountry resolves a country input (ISO code or calling code) to its
// region and calling code. An empty country gives "", 0.
func parseCountry(country string) (region string, callingCode int, err error) {
	if len(country) > maxCountryInput {
		return "", 0, ErrInvalidCountry
	}
	country = strings.TrimSpace(country)
	if country == "" {
		return "", 0, nil
	}
	code := strings.TrimPrefix(country, "+")
	if isDigits(code) {
		if len(code) > 3 || code[0] == '0' {
			return "", 0, fmt.Errorf("%w: unknown calling code %q", ErrInvalidCountry, country)
		}
		cc, _ := strconv.Atoi(code)
		region = phonenumbers.GetRegionCodeForCountryCode(cc)
		if len(region) != 2 || region == "ZZ" {
			// "ZZ" is no country; "001" is the non-geographic entities
			// (+800, +882…), which have no national numbers to parse.
			return "", 0, fmt.Errorf("%w: calling code %q has no country", ErrInvalidCountry, country)
		}
		return region, cc, nil
	}
	region = strings.ToUpper(country)
	cc := 0
	if len(region) == 2 {
		cc = phonenumbers.GetCountryCodeForRegion(region)
	}
	if cc == 0 {
		return "", 0, fmt.Errorf("%w %q", ErrInvalidCountry, country)
	}
	return region, cc, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isRegion reports whether code is an ISO 3166-1 alpha-2 code that has a
// numbering plan (case-insensitive).
func isRegion(code string) bool {
	return len(code) == 2 && phonenumbers.GetCountryCodeForRegion(strings.ToUpper(code)) != 0
}

// RegionNonGeographic is the Region of numbers that belong to no country:
// satellite phones (+870 Inmarsat, +881 Iridium and Globalstar),
// international networks (+882, +883: maritime, in-flight, roaming and IoT
// carriers), and global services (+800 freephone, +808 shared cost, +878
// personal numbers, +979 premium rate). Texts to them cost far more than to
// a country's mobiles and few real users have one, which makes them a
// favourite of SMS pumping: PhonePolicy refuses them unless they are named.
const RegionNonGeographic = "001"

// PhonePolicy decides which valid numbers may receive codes. The zero
// value allows mobile numbers of every country, and refuses those of
// RegionNonGeographic.
//
// In production, list the countries your users live in (AllowCountries):
// fraudsters pick the destinations where texts cost the most, and an
// allowlist takes every other country off their menu. Countries can be
// added as the service opens there:
//
//	Phones: phoneauth.PhonePolicy{AllowCountries: []string{"PK", "AE", "GB"}}
type PhonePolicy struct {
	// AllowedTypes are the number types that may receive codes. Empty
	// means NumberMobile and NumberFixedLineOrMobile: toll-free,
	// premium-rate, shared-cost and other numbers are refused, the first
	// defence against SMS pumping (fraudsters triggering texts to numbers
	// whose revenue they share).
	AllowedTypes []NumberType
	// AllowCountries, if not empty, lists the only regions (ISO 3166-1
	// alpha-2, any case, or RegionNonGeographic) whose numbers may receive
	// codes. Naming RegionNonGeographic here admits its numbers, as
	// AllowNonGeographic does.
	AllowCountries []string
	// DenyCountries lists regions (ISO 3166-1 alpha-2, any case, or
	// RegionNonGeographic) whose numbers may not receive codes. It wins
	// over AllowCountries and AllowNonGeographic.
	DenyCountries []string
	// AllowNonGeographic admits numbers of RegionNonGeographic (satellite
	// phones and international networks), which are refused by default.
	// AllowCountries still applies: with a list, "001" must be on it.
	AllowNonGeographic bool
}

// Check returns nil if ph may receive codes under p, or a
// *PhoneNotAllowedError that says why (its type, its country, or its being
// a satellite or international-network number).
func (p PhonePolicy) Check(ph Phone) error {
	if !p.typeAllowed(ph.Type) {
		return &PhoneNotAllowedError{Reason: typeReason(ph.Type), Detail: ph.Type.String() + " numbers are not accepted"}
	}
	if containsFold(p.DenyCountries, ph.Region) ||
		(len(p.AllowCountries) > 0 && !containsFold(p.AllowCountries, ph.Region)) {
		if ph.Region == RegionNonGeographic {
			return &PhoneNotAllowedError{Reason: ReasonSatellite, Detail: "numbers of 001 (satellite and international networks) are not accepted"}
		}
		return &PhoneNotAllowedError{Reason: ReasonCountryNotAllowed, Detail: "numbers of " + ph.Region + " are not accepted"}
	}
	if ph.Region == RegionNonGeographic && !p.AllowNonGeographic && !containsFold(p.AllowCountries, ph.Region) {
		return &PhoneNotAllowedError{Reason: ReasonSatellite, Detail: "satellite and international-network numbers are not accepted"}
	}
	return nil
}

// typeReason is the Reason of a number refused for its type t.
func typeReason(t NumberType) string {
	switch t {
	case NumberFixedLine:
		return ReasonLandline
	case NumberTollFree:
		return ReasonTollFree
	case NumberPremiumRate:
		return ReasonPremiumRate
	case NumberSharedCost:
		return ReasonSharedCost
	}
	return ReasonTypeNotAllowed
}

func (p PhonePolicy) typeAllowed(t NumberType) bool {
	if len(p.AllowedTypes) == 0 {
		return t.smsCapable()
	}
	for _, a := range p.AllowedTypes {
		if a == t {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(strings.TrimSpace(e), s) {
			return true
		}
	}
	return false
}

// validate reports unknown number types and country codes, as an error
// matching ErrInvalidConfig.
func (p PhonePolicy) validate() error {
	for _, t := range p.AllowedTypes {
		if !t.valid() {
			return fmt.Errorf("%w: Phones.AllowedTypes: unknown number type %d", ErrInvalidConfig, int(t))
		}
	}
	for _, l := range []struct {
		field string
		codes []string
	}{{"AllowCountries", p.AllowCountries}, {"DenyCountries", p.DenyCountries}} {
		for _, c := range l.codes {
			if c = strings.TrimSpace(c); !isRegion(c) && c != RegionNonGeographic {
				return fmt.Errorf("%w: Phones.%s: unknown country %q (want an ISO 3166-1 alpha-2 code, or %q)", ErrInvalidConfig, l.field, c, RegionNonGeographic)
			}
		}
	}
	return nil
}

// MaskPhone masks a phone number for display and logs: it keeps the "+",
// the calling code and the last four digits of an E.164 number,
// "+92******5678". Of a short number it keeps at most half the national
// digits; of anything that is not an E.164 number, at most the last quarter
// of its characters (and nothing of input longer than 64 bytes).
func MaskPhone(e164 string) string {
	if len(e164) > maxPhoneInput {
		return "***"
	}
	if len(e164) > 1 && e164[0] == '+' && isDigits(e164[1:]) {
		digits := e164[1:]
		cc := callingCodeLen(digits)
		if cc > 0 && len(digits) > cc {
			rest := len(digits) - cc
			keep := min(4, rest/2)
			return "+" + digits[:cc] + strings.Repeat("*", rest-keep) + digits[len(digits)-keep:]
		}
	}
	n := utf8.RuneCountInString(e164)
	masked := n - min(4, n/4)
	i := 0
	for off := range e164 {
		if i == masked {
			return strings.Repeat("*", masked) + e164[off:]
		}
		i++
	}
	return strings.Repeat("*", n)
}

// callingCodeLen returns the length of the calling code that digits start
// with, or 0. Calling codes are prefix-free, so at most one matches.
func callingCodeLen(digits string) int {
	for n := 1; n <= 3 && n <= len(digits); n++ {
		cc, _ := strconv.Atoi(digits[:n])
		if phonenumbers.GetRegionCodeForCountryCode(cc) != "ZZ" {
			return n
		}
	}
	return 0
}

// defaultPhoneCacheSize is the number of parsed numbers an Authenticator
// keeps.
const defaultPhoneCacheSize = 10_000

// phoneParser is ParsePhone with a bounded cache of results: parsing costs
// a few µs for a number in E.164 form and tens of µs for any other, a hit
// well under a microsecond. It is safe for concurrent use.
//
// The cache is sharded; each shard keeps two generations of entries. New
// entries go into the current one; when it is full, it becomes the previous
// one and the old previous one is dropped; a hit in the previous generation
// is copied into the current one. So recently used numbers stay, memory is
// bounded by the size, and there is no per-entry bookkeeping. Failures are
// cached too (a client retrying an invalid number costs nothing), within
// the same bound.
type phoneParser struct {
	seed   maphash.Seed
	shards []phoneShard
	gen    int // entries per generation per shard
}

type phoneKey struct{ number, country string }

type phoneResult struct {
	ph  Phone
	err error
}

type phoneShard struct {
	mu       sync.Mutex
	cur, old map[phoneKey]phoneResult
	_        [40]byte // keep shards' locks on separate cache lines
}

// newPhoneParser returns a parser that caches at most size results (size
// <= 0 means defaultPhoneCacheSize; the least is 2).
func newPhoneParser(size int) *phoneParser {
	if size <= 0 {
		size = defaultPhoneCacheSize
	}
	size = max(size, 2)
	shards := 1
	if size >= 16*2*64 {
		shards = 16
	}
	p := &phoneParser{seed: maphash.MakeSeed(), shards: make([]phoneShard, shards), gen: size / (2 * shards)}
	for i := range p.shards {
		p.shards[i].cur = make(map[phoneKey]phoneResult)
	}
	return p
}

// parse is ParsePhone through the cache. A nil parser does not cache.
func (p *phoneParser) parse(number, country string) (Phone, error) {
	if p == nil || len(number) > maxPhoneInput || len(country) > maxCountryInput {
		return ParsePhone(number, country)
	}
	k := phoneKey{number, country}
	s := &p.shards[0]
	if len(p.shards) > 1 {
		s = &p.shards[maphash.String(p.seed, number)%uint64(len(p.shards))]
	}
	s.mu.Lock()
	r, ok := s.cur[k]
	if !ok {
		if r, ok = s.old[k]; ok {
			s.put(k, r, p.gen)
		}
	}
	s.mu.Unlock()
	if ok {
		return r.ph, r.err
	}

	ph, err := ParsePhone(number, country)
	// Clone the key: the caller's strings may share memory with a whole
	// request body.
	k = phoneKey{strings.Clone(number), strings.Clone(country)}
	s.mu.Lock()
	s.put(k, phoneResult{ph, err}, p.gen)
	s.mu.Unlock()
	return ph, err
}

// put stores r under k in the current generation, first retiring it when
// it holds gen entries. s.mu must be held.
func (s *phoneShard) put(k phoneKey, r phoneResult, gen int) {
	if len(s.cur) >= gen {
		s.old, s.cur = s.cur, make(map[phoneKey]phoneResult, gen)
	}
	s.cur[k] = r
}

// len returns the number of cached results.
func (p *phoneParser) len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.old)
		s.mu.Unlock()
	}
	return n
}
