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
//
// ByChannel is a phoneauth.SendReporter: it reports the channel a message
// went out on, so after a fallback the Authenticator's RequestResult.Channel
// (the HTTP response's "channel") and its EventCodeSent say SMS, not
// WhatsApp. It passes on the report of an SMS or WhatsApp Sender that is a
// SendReporter itself.
//
// Compose it with Async either way round: Async around ByChannel retries
// the fallback as a whole, and its EventDelivered and EventDeliveryFailed
// carry the channel ByChannel reported (the Authenticator, answering before
// the real send, can only report the channel asked for); ByChannel around
// Async senders queues each channel separately (but then only a full queue
// triggers the fallback).
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
	sent, err := b.SendReport(ctx, m)
	return sent.MessageID, err
}

// SendReport is Send, reporting the channel the message went out on:
// phoneauth.SMS after a fallback (or for the empty channel), else
// m.Channel, unless the Sender used reported another. On failure it reports
// the channel tried last.
func (b ByChannel) SendReport(ctx context.Context, m phoneauth.Message) (phoneauth.Sent, error) {
	switch m.Channel {
	case phoneauth.SMS, "":
		return sendOn(ctx, phoneauth.SMS, b.SMS, m)
	case phoneauth.WhatsApp:
		sent, err := sendOn(ctx, phoneauth.WhatsApp, b.WhatsApp, m)
		if err == nil || !b.FallbackToSMS || b.SMS == nil || ctx.Err() != nil {
			return sent, err
		}
		m.Channel = phoneauth.SMS
		sent, smsErr := sendOn(ctx, phoneauth.SMS, b.SMS, m)
		if smsErr != nil {
			return phoneauth.Sent{Channel: sent.Channel}, &fallbackError{sms: smsErr, whatsapp: err}
		}
		return sent, nil
	default:
		return phoneauth.Sent{Channel: m.Channel}, fmt.Errorf("%w: delivery: unknown channel %q", phoneauth.ErrSendFailed, m.Channel)
	}
}

// sendOn sends m through s, the Sender of channel ch, and reports ch
// unless s reported a channel of its own.
func sendOn(ctx context.Context, ch phoneauth.Channel, s phoneauth.Sender, m phoneauth.Message) (phoneauth.Sent, error) {
	if s == nil {
		return phoneauth.Sent{Channel: ch}, fmt.Errorf("%w: delivery: no sender for channel %q", phoneauth.ErrSendFailed, m.Channel)
	}
	sent, err := phoneauth.SendReport(ctx, s, m)
	if sent.Channel == "" {
		sent.Channel = ch
	}
	return sent, err
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
