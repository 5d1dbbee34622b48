package delivery

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// channelSender records the channel of each message it gets.
type channelSender struct {
	id   string
	err  error
	seen []phoneauth.Channel
}

func (s *channelSender) Send(_ context.Context, m phoneauth.Message) (string, error) {
	s.seen = append(s.seen, m.Channel)
	return s.id, s.err
}

func TestByChannelRoutes(t *testing.T) {
	sms, wa := &channelSender{id: "sms-1"}, &channelSender{id: "wa-1"}
	b := ByChannel{SMS: sms, WhatsApp: wa}
	for ch, want := range map[phoneauth.Channel]string{phoneauth.SMS: "sms-1", "": "sms-1", phoneauth.WhatsApp: "wa-1"} {
		id, err := b.Send(context.Background(), phoneauth.Message{Channel: ch})
		if err != nil || id != want {
			t.Errorf("channel %q: Send = %q, %v; want %q", ch, id, err, want)
		}
	}
	if len(sms.seen) != 2 || len(wa.seen) != 1 {
		t.Errorf("sms got %v, whatsapp got %v", sms.seen, wa.seen)
	}
	if _, err := b.Send(context.Background(), phoneauth.Message{Channel: "pigeon"}); !errors.Is(err, phoneauth.ErrSendFailed) {
		t.Errorf("unknown channel: %v", err)
	}
	if _, err := (ByChannel{SMS: sms}).Send(context.Background(), phoneauth.Message{Channel: phoneauth.WhatsApp}); !errors.Is(err, phoneauth.ErrSendFailed) {
		t.Errorf("no WhatsApp sender: %v", err)
	}
}

func TestByChannelFallsBackToSMS(t *testing.T) {
	waErr := errors.New("whatsapp: not on WhatsApp")
	sms, wa := &channelSender{id: "sms-1"}, &channelSender{err: waErr}
	b := ByChannel{SMS: sms, WhatsApp: wa, FallbackToSMS: true}
	id, err := b.Send(context.Background(), phoneauth.Message{Channel: phoneauth.WhatsApp})
	if err != nil || id != "sms-1" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	if len(sms.seen) != 1 || sms.seen[0] != phoneauth.SMS {
		t.Errorf("SMS sender got channels %v, want [sms]", sms.seen)
	}

	// Without a WhatsApp sender at all, the fallback still applies.
	if id, err := (ByChannel{SMS: sms, FallbackToSMS: true}).Send(context.Background(), phoneauth.Message{Channel: phoneauth.WhatsApp}); err != nil || id != "sms-1" {
		t.Errorf("no WhatsApp sender, fallback: %q, %v", id, err)
	}

	// Without FallbackToSMS the WhatsApp error comes back.
	sms.seen = nil
	if _, err := (ByChannel{SMS: sms, WhatsApp: wa}).Send(context.Background(), phoneauth.Message{Channel: phoneauth.WhatsApp}); !errors.Is(err, waErr) || len(sms.seen) != 0 {
		t.Errorf("no fallback: err %v, sms got %v", err, sms.seen)
	}

	// A done context is no reason to try SMS.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Send(ctx, phoneauth.Message{Channel: phoneauth.WhatsApp}); !errors.Is(err, waErr) || len(sms.seen) != 0 {
		t.Errorf("cancelled: err %v, sms got %v", err, sms.seen)
	}
}

func TestByChannelFallbackFailureIsTheSMSOne(t *testing.T) {
	waErr := errors.New("whatsapp down")
	smsErr := Retryable(errors.New("sms busy"), 2*time.Second)
	b := ByChannel{SMS: &channelSender{err: smsErr}, WhatsApp: &channelSender{err: waErr}, FallbackToSMS: true}
	_, err := b.Send(context.Background(), phoneauth.Message{Channel: phoneauth.WhatsApp})
	if !errors.Is(err, smsErr) || !errors.Is(err, waErr) || !errors.Is(err, phoneauth.ErrSendFailed) {
		t.Fatalf("err %v does not carry both failures", err)
	}
	if !IsTemporary(err) || RetryDelay(err) != 2*time.Second {
		t.Errorf("retryability not the SMS failure's: temporary %v, delay %v", IsTemporary(err), RetryDelay(err))
	}
	// The other way round: a permanent SMS failure after a temporary
	// WhatsApp one is permanent.
	b = ByChannel{SMS: &channelSender{err: waErr}, WhatsApp: &channelSender{err: smsErr}, FallbackToSMS: true}
	if _, err := b.Send(context.Background(), phoneauth.Message{Channel: phoneauth.WhatsApp}); IsTemporary(err) {
		t.Errorf("permanent SMS failure reported temporary: %v", err)
	}
}

func TestByChannelReportsTheChannelUsed(t *testing.T) {
	ctx := context.Background()
	waErr, smsErr := errors.New("whatsapp down"), errors.New("sms down")
	ok := func(id string) *channelSender { return &channelSender{id: id} }
	failing := func(err error) *channelSender { return &channelSender{err: err} }
	tests := []struct {
		name    string
		b       ByChannel
		ch      phoneauth.Channel
		want    phoneauth.Sent
		wantErr error
	}{
		{"sms", ByChannel{SMS: ok("s1"), WhatsApp: ok("w1")}, phoneauth.SMS, phoneauth.Sent{MessageID: "s1", Channel: phoneauth.SMS}, nil},
		{"empty channel is sms", ByChannel{SMS: ok("s1")}, "", phoneauth.Sent{MessageID: "s1", Channel: phoneauth.SMS}, nil},
		{"whatsapp", ByChannel{SMS: ok("s1"), WhatsApp: ok("w1"), FallbackToSMS: true}, phoneauth.WhatsApp, phoneauth.Sent{MessageID: "w1", Channel: phoneauth.WhatsApp}, nil},
		{"fallback", ByChannel{SMS: ok("s1"), WhatsApp: failing(waErr), FallbackToSMS: true}, phoneauth.WhatsApp, phoneauth.Sent{MessageID: "s1", Channel: phoneauth.SMS}, nil},
		{"fallback without a whatsapp sender", ByChannel{SMS: ok("s1"), FallbackToSMS: true}, phoneauth.WhatsApp, phoneauth.Sent{MessageID: "s1", Channel: phoneauth.SMS}, nil},
		{"whatsapp fails, no fallback", ByChannel{SMS: ok("s1"), WhatsApp: failing(waErr)}, phoneauth.WhatsApp, phoneauth.Sent{Channel: phoneauth.WhatsApp}, waErr},
		{"both fail: sms tried last", ByChannel{SMS: failing(smsErr), WhatsApp: failing(waErr), FallbackToSMS: true}, phoneauth.WhatsApp, phoneauth.Sent{Channel: phoneauth.SMS}, smsErr},
		{"unknown channel", ByChannel{SMS: ok("s1")}, "pigeon", phoneauth.Sent{Channel: "pigeon"}, phoneauth.ErrSendFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := phoneauth.Message{To: "+15550100", Channel: tt.ch}
			got, err := tt.b.SendReport(ctx, m)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("SendReport = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
			// Through the package function, as the Authenticator and Async
			// call it, the report is the same.
			if got, err := phoneauth.SendReport(ctx, tt.b, m); got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("phoneauth.SendReport = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
			// Send keeps its old answer: the message id of SendReport.
			if id, _ := tt.b.Send(ctx, m); id != tt.want.MessageID {
				t.Errorf("Send = %q, want %q", id, tt.want.MessageID)
			}
		})
	}
}

func TestByChannelPassesOnAnInnerReport(t *testing.T) {
	// A ByChannel inside a ByChannel: the inner one falls back, and the
	// outer one must not replace its SMS with the WhatsApp it routed to.
	inner := ByChannel{
		SMS:           &channelSender{id: "s1"},
		WhatsApp:      &channelSender{err: errors.New("whatsapp down")},
		FallbackToSMS: true,
	}
	outer := ByChannel{SMS: &channelSender{id: "other"}, WhatsApp: inner}
	got, err := outer.SendReport(context.Background(), phoneauth.Message{Channel: phoneauth.WhatsApp})
	if want := (phoneauth.Sent{MessageID: "s1", Channel: phoneauth.SMS}); err != nil || got != want {
		t.Errorf("SendReport = %+v, %v; want %+v", got, err, want)
	}
}
