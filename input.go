package phoneauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The client's strings that reach the Store, Users or Limiter (ids, device
// details, metadata) are text: valid UTF-8 without NUL bytes, which every
// backend can keep (PostgreSQL's text and jsonb refuse NUL). Others are
// refused with ErrInvalidRequest before the store is asked, the same with
// every backend.

// isText reports whether s is valid UTF-8 without NUL bytes.
func isText(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

// A textField is a named input for checkText.
type textField struct{ name, value string }

// checkText returns an error matching ErrInvalidRequest, naming the field,
// for the first of fields that is not text.
func checkText(fields ...textField) error {
	for _, f := range fields {
		if !isText(f.value) {
			return fmt.Errorf("%w: %s is not valid UTF-8 without NUL characters", ErrInvalidRequest, f.name)
		}
	}
	return nil
}

// checkMetadata returns an error matching ErrInvalidRequest if metadata
// cannot be stored: if it does not encode as JSON (a cycle, a function, a
// NaN), or holds a NUL character in a key or a string. Invalid UTF-8 is no
// reason: JSON encoding replaces it, as it does in every backend.
func checkMetadata(m map[string]any) error {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%w: metadata does not encode as JSON: %w", ErrInvalidRequest, err)
	}
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return nil // the only way JSON writes a NUL
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil || holdsNUL(v) { // it decodes: json.Marshal wrote it
		return fmt.Errorf("%w: metadata holds a NUL character", ErrInvalidRequest)
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
