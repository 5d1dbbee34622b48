package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/phoneauth/phoneauth"
)

// ByChannel is a Sender that routes each message by its Channel: SMS (and
// the empty channel) to SMS, WhatsApp to WhatsApp.
//
// With FallbackToSMS, a WhatsApp message whose send fails (for any reason
// but the end of ctx) is sent again through SMS, with its Channel set to
// phoneauth.SMS; if that fails too, the error returned is the SMS one (it
// decides whether the whole is temporary), followed by the WhatsApp one.
// The Authenticator still reports the channel the client asked for.
//
// Compose it with Async either way round: Async around ByChannel retries
// the fallback as a whole; ByChannel around Async senders queues each
// channel separately (but then only a full queue triggers the fallback).
type ByChannel struct {
	// SMS sends SMS messages.
	SMS phoneauth.Sender
	// WhatsApp sends WhatsApp messages.
	WhatsApp phoneauth.Sender
	// FallbackToSMS sends a failed WhatsApp message again by SMS.
	FallbackToSMS bool
}

// Send sends m through the Sender of its channel. A channel without a
// Sender is an error matching phoneauth.ErrSendFailed.
func (b ByChannel) Send(ctx context.Context, m phoneauth.Message) (string, error) {
	switch m.Channel {
	case phoneauth.SMS, "":
		return sendVia(ctx, b.SMS, m)
	case phoneauth.WhatsApp:
		id, err := sendVia(ctx, b.WhatsApp, m)
		if err == nil || !b.FallbackToSMS || b.SMS == nil || ctx.Err() != nil {
			return id, err
		}
		m.Channel = phoneauth.SMS
		id, smsErr := b.SMS.Send(ctx, m)
		if smsErr != nil {
			return "", &fallbackError{sms: smsErr, whatsapp: err}
		}
		return id, nil
	default:
		return "", fmt.Errorf("%w: delivery: unknown channel %q", phoneauth.ErrSendFailed, m.Channel)
	}
}

func sendVia(ctx context.Context, s phoneauth.Sender, m phoneauth.Message) (string, error) {
	if s == nil {
		return "", fmt.Errorf("%w: delivery: no sender for channel %q", phoneauth.ErrSendFailed, m.Channel)
	}
	return s.Send(ctx, m)
}

// fallbackError is the failure of both a WhatsApp send and its SMS
// fallback. It matches both errors; whether it is temporary is up to the
// SMS one, which a retry would meet last.
type fallbackError struct{ sms, whatsapp error }

func (e *fallbackError) Error() string {
	return fmt.Sprintf("delivery: SMS fallback: %v (after WhatsApp: %v)", e.sms, e.whatsapp)
}

func (e *fallbackError) Is(target error) bool      { return target == phoneauth.ErrSendFailed }
func (e *fallbackError) Unwrap() []error           { return []error{e.sms, e.whatsapp} }
func (e *fallbackError) Temporary() bool           { return IsTemporary(e.sms) }
func (e *fallbackError) RetryDelay() time.Duration { return RetryDelay(e.sms) }
