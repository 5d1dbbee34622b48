package phoneauth

// STUB: phone.go is being written (parsing, policy, masking, cache).

// Phone is a parsed, valid phone number.
type Phone struct {
	// E164 is the number in E.164 form, "+923012345678": the key phoneauth
	// stores it under.
	E164 string
	// Region is the ISO 3166-1 alpha-2 region of the number, "PK".
	Region string
	// Type is the number's type.
	Type NumberType
}

// NumberType is the type of a phone number.
type NumberType int

// PhonePolicy decides which valid numbers may receive codes.
type PhonePolicy struct{}

// MaskPhone masks a phone number for display and logs.
func MaskPhone(e164 string) string { return e164 }

// phoneParser parses numbers with a bounded cache.
type phoneParser struct{}

func (p *phoneParser) parse(number, country string) (Phone, error) { panic("not written yet") }
