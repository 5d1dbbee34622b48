// Package redact keeps what a message carries, its code and its
// recipient's number, out of text that senders put in their errors (a
// provider's error message, the start of a delivery service's reply),
// since errors end up in logs.
package redact

import (
	"strings"

	"github.com/phoneauth/phoneauth"
)

// minCode is the shortest code redacted: phoneauth's codes have 4 to 10
// digits, and a shorter string would be found in too much else.
const minCode = 4

// Message returns text with the E.164 number to, with or without its "+",
// masked as phoneauth.MaskPhone does, and every occurrence of code
// replaced by as many asterisks. Redact the whole text before cutting it
// short: a cut could leave most of a number or a code behind.
func Message(text, to, code string) string {
	if len(to) >= 2 && to[0] == '+' {
		masked := phoneauth.MaskPhone(to)
		text = strings.ReplaceAll(text, to, masked)
		text = strings.ReplaceAll(text, to[1:], masked)
	}
	if len(code) >= minCode {
		text = strings.ReplaceAll(text, code, strings.Repeat("*", len(code)))
	}
	return text
}
