package phoneauth

import (
	"context"
	"time"
)

// A Channel is how a code reaches a phone.
type Channel string

// The channels phoneauth knows.
const (
	SMS      Channel = "sms"
	WhatsApp Channel = "whatsapp"
)

// A Message is one code on its way to a phone.
type Message struct {
	// To is the E.164 phone number.
	To string
	// Channel is SMS or WhatsApp.
	Channel Channel
	// Text is the rendered message (see Config.Template).
	Text string
	// Code is the one-time code itself, for senders that fill a provider's
	// template (WhatsApp authentication templates) or a caller's own
	// delivery service. A Sender must never log it.
	Code string
	// ChallengeID identifies the challenge (useful as an idempotency key).
	ChallengeID string
	// ExpiresAt is when the code expires.
	ExpiresAt time.Time
	// Locale is the client's preferred language (BCP 47), if known.
	Locale string
}

// A Sender delivers messages. Send returns the provider's message id.
// A Sender must be safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) (messageID string, err error)
}

// SenderFunc adapts a function to the Sender interface.
type SenderFunc func(ctx context.Context, m Message) (string, error)

// Send calls f(ctx, m).
func (f SenderFunc) Send(ctx context.Context, m Message) (string, error) { return f(ctx, m) }

// STUB (sender.go is being written): Templates, TemplateData, DefaultTemplate,
// messageRenderer, LogSender.

// Templates maps locales to message templates.
type Templates map[string]string

type messageRenderer struct{}
