package phoneauth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/delivery"
)

// The channel a code went out on, as the Sender reports it, reaches the
// RequestResult and the events; see SendReporter.

// channelFixture is a fixture whose Sender is s.
func channelFixture(t *testing.T, s phoneauth.Sender) *fixture {
	t.Helper()
	return newFixture(t, func(c *phoneauth.Config) { c.Sender = s })
}

// eventsOf returns the recorded events of one kind.
func (f *fixture) eventsOf(kind phoneauth.EventKind) []phoneauth.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []phoneauth.Event
	for _, e := range f.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// requestOn requests a code for phonePK on channel ch.
func (f *fixture) requestOn(ch phoneauth.Channel) (phoneauth.RequestResult, error) {
	return f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phonePK, DeviceID: "dev-1", IP: "192.0.2.1", Channel: ch})
}

// oneEvent returns the only event of a kind, failing the test otherwise.
func (f *fixture) oneEvent(kind phoneauth.EventKind) phoneauth.Event {
	f.t.Helper()
	evs := f.eventsOf(kind)
	if len(evs) != 1 {
		f.t.Fatalf("%d %s events, want 1: %+v", len(evs), kind, evs)
	}
	return evs[0]
}

// recordingSender records the messages it sends and answers id, or err.
type recordingSender struct {
	id  string
	err error

	mu   sync.Mutex
	sent []phoneauth.Message
}

func (s *recordingSender) Send(_ context.Context, m phoneauth.Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	if s.err != nil {
		return "", s.err
	}
	return s.id, nil
}

func (s *recordingSender) last() phoneauth.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) == 0 {
		return phoneauth.Message{}
	}
	return s.sent[len(s.sent)-1]
}

func TestFallbackToSMSReachesResultAndEvents(t *testing.T) {
	sms := &recordingSender{id: "sms-1"}
	whatsapp := &recordingSender{err: errors.New("not a WhatsApp user")}
	f := channelFixture(t, delivery.ByChannel{SMS: sms, WhatsApp: whatsapp, FallbackToSMS: true})

	r, err := f.requestOn(phoneauth.WhatsApp)
	if err != nil {
		t.Fatal(err)
	}
	if r.Channel != phoneauth.SMS || r.MessageID != "sms-1" {
		t.Errorf("result channel %q, message id %q; want sms, sms-1", r.Channel, r.MessageID)
	}
	if e := f.oneEvent(phoneauth.EventCodeRequested); e.Channel != phoneauth.WhatsApp {
		t.Errorf("code_requested channel %q, want the channel asked for (whatsapp)", e.Channel)
	}
	if e := f.oneEvent(phoneauth.EventCodeSent); e.Channel != phoneauth.SMS || e.MessageID != "sms-1" || e.ChallengeID != r.RequestID {
		t.Errorf("code_sent = %+v, want channel sms, message sms-1", e)
	}
	// The code that went by SMS verifies.
	if _, err := f.verify(phonePK, sms.last().Code); err != nil {
		t.Errorf("verify the SMS code: %v", err)
	}
}

func TestNoFallbackKeepsWhatsApp(t *testing.T) {
	sms, whatsapp := &recordingSender{id: "sms-1"}, &recordingSender{id: "wa-1"}
	f := channelFixture(t, delivery.ByChannel{SMS: sms, WhatsApp: whatsapp, FallbackToSMS: true})
	r, err := f.requestOn(phoneauth.WhatsApp)
	if err != nil {
		t.Fatal(err)
	}
	if r.Channel != phoneauth.WhatsApp || r.MessageID != "wa-1" {
		t.Errorf("result channel %q, message id %q; want whatsapp, wa-1", r.Channel, r.MessageID)
	}
	if e := f.oneEvent(phoneauth.EventCodeSent); e.Channel != phoneauth.WhatsApp || e.MessageID != "wa-1" {
		t.Errorf("code_sent = %+v, want channel whatsapp, message wa-1", e)
	}
	if len(sms.sent) != 0 {
		t.Errorf("SMS sender used: %d messages", len(sms.sent))
	}
}

func TestFailedFallbackReportsTheChannelTriedLast(t *testing.T) {
	smsErr := errors.New("sms: unreachable")
	f := channelFixture(t, delivery.ByChannel{
		SMS:           &recordingSender{err: smsErr},
		WhatsApp:      &recordingSender{err: errors.New("whatsapp down")},
		FallbackToSMS: true,
	})
	_, err := f.requestOn(phoneauth.WhatsApp)
	if !errors.Is(err, phoneauth.ErrSendFailed) || !errors.Is(err, smsErr) {
		t.Fatalf("err = %v, want ErrSendFailed and the SMS failure", err)
	}
	if e := f.oneEvent(phoneauth.EventSendFailed); e.Channel != phoneauth.SMS || !errors.Is(e.Err, smsErr) {
		t.Errorf("send_failed = %+v, want channel sms", e)
	}
	if n := len(f.eventsOf(phoneauth.EventCodeSent)); n != 0 {
		t.Errorf("%d code_sent events after a failure", n)
	}
}

func TestPlainSenderReportsTheChannelAskedFor(t *testing.T) {
	f := newFixture(t) // a SenderFunc, which knows nothing of SendReporter
	for i, ch := range []phoneauth.Channel{phoneauth.WhatsApp, phoneauth.SMS} {
		f.clock.Advance(30e9) // the default ResendCooldown, 30 seconds
		r, err := f.requestOn(ch)
		if err != nil {
			t.Fatal(err)
		}
		wantID := fmt.Sprintf("msg-%d", i+1)
		if r.Channel != ch || r.MessageID != wantID {
			t.Errorf("%s: result channel %q, message id %q; want %s, %s", ch, r.Channel, r.MessageID, ch, wantID)
		}
		if evs := f.eventsOf(phoneauth.EventCodeSent); len(evs) != i+1 || evs[i].Channel != ch || evs[i].MessageID != wantID {
			t.Errorf("%s: code_sent events %+v", ch, evs)
		}
	}
}

// reporter is a SendReporter that reports a fixed channel; its Send must
// not be called by the Authenticator.
type reporter struct {
	t    *testing.T
	sent phoneauth.Sent
	err  error
}

func (r reporter) Send(context.Context, phoneauth.Message) (string, error) {
	r.t.Error("Send called on a SendReporter")
	return "", errors.New("Send called")
}

func (r reporter) SendReport(context.Context, phoneauth.Message) (phoneauth.Sent, error) {
	return r.sent, r.err
}

func TestAuthenticatorPrefersSendReport(t *testing.T) {
	f := channelFixture(t, reporter{t: t, sent: phoneauth.Sent{MessageID: "v-1", Channel: "voice"}})
	r, err := f.requestOn(phoneauth.SMS)
	if err != nil {
		t.Fatal(err)
	}
	if r.Channel != "voice" || r.MessageID != "v-1" {
		t.Errorf("result channel %q, message id %q; want voice, v-1", r.Channel, r.MessageID)
	}

	// A report without a channel means the channel asked for.
	f = channelFixture(t, reporter{t: t, sent: phoneauth.Sent{MessageID: "w-1"}})
	if r, err = f.requestOn(phoneauth.WhatsApp); err != nil || r.Channel != phoneauth.WhatsApp {
		t.Errorf("empty report: channel %q, err %v; want whatsapp", r.Channel, err)
	}
}

func TestSendReport(t *testing.T) {
	ctx := context.Background()
	m := phoneauth.Message{To: phonePK, Channel: phoneauth.WhatsApp}
	failure := errors.New("down")
	plain := phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "p-1", nil })
	failing := phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "", failure })
	tests := []struct {
		name    string
		s       phoneauth.Sender
		want    phoneauth.Sent
		wantErr error
	}{
		{"plain sender", plain, phoneauth.Sent{MessageID: "p-1", Channel: phoneauth.WhatsApp}, nil},
		{"plain sender failing", failing, phoneauth.Sent{Channel: phoneauth.WhatsApp}, failure},
		{"reporter", reporter{t: t, sent: phoneauth.Sent{MessageID: "r-1", Channel: phoneauth.SMS}}, phoneauth.Sent{MessageID: "r-1", Channel: phoneauth.SMS}, nil},
		{"reporter without a channel", reporter{t: t, sent: phoneauth.Sent{MessageID: "r-1"}}, phoneauth.Sent{MessageID: "r-1", Channel: phoneauth.WhatsApp}, nil},
		{"reporter failing on sms", reporter{t: t, sent: phoneauth.Sent{Channel: phoneauth.SMS}, err: failure}, phoneauth.Sent{Channel: phoneauth.SMS}, failure},
		{"reporter failing without a channel", reporter{t: t, err: failure}, phoneauth.Sent{Channel: phoneauth.WhatsApp}, failure},
	}
	for _, tt := range tests {
		got, err := phoneauth.SendReport(ctx, tt.s, m)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s: SendReport = %+v, %v; want %+v, %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestAsyncByChannelReportsFallbackInDeliveredEvent(t *testing.T) {
	var (
		mu        sync.Mutex
		delivered []phoneauth.Event
	)
	sms := &recordingSender{id: "sms-1"}
	async, err := delivery.NewAsync(
		delivery.ByChannel{SMS: sms, WhatsApp: &recordingSender{err: errors.New("not a WhatsApp user")}, FallbackToSMS: true},
		delivery.AsyncOptions{Workers: 1, Events: func(_ context.Context, e phoneauth.Event) {
			mu.Lock()
			defer mu.Unlock()
			delivered = append(delivered, e)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = async.Close(context.Background()) })
	f := channelFixture(t, async)

	r, err := f.requestOn(phoneauth.WhatsApp)
	if err != nil {
		t.Fatal(err)
	}
	// The Authenticator answers before the real send: it can only report
	// the channel asked for.
	if r.Channel != phoneauth.WhatsApp || !strings.HasPrefix(r.MessageID, "async-") {
		t.Errorf("result channel %q, message id %q; want whatsapp, async-…", r.Channel, r.MessageID)
	}
	if e := f.oneEvent(phoneauth.EventCodeSent); e.Channel != phoneauth.WhatsApp {
		t.Errorf("code_sent channel %q, want whatsapp", e.Channel)
	}
	if err := async.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != 1 {
		t.Fatalf("async events %+v, want one", delivered)
	}
	if e := delivered[0]; e.Kind != phoneauth.EventDelivered || e.Channel != phoneauth.SMS || e.MessageID != "sms-1" || e.ChallengeID != r.RequestID {
		t.Errorf("delivered = %+v, want channel sms, message sms-1, challenge %s", e, r.RequestID)
	}
}

// meteredSender is a wrapper (metrics, tracing) that keeps the report of
// the Sender it wraps by implementing SendReporter with SendReport.
type meteredSender struct {
	next phoneauth.Sender
	mu   sync.Mutex
	by   map[phoneauth.Channel]int
}

func (s *meteredSender) Send(ctx context.Context, m phoneauth.Message) (string, error) {
	sent, err := s.SendReport(ctx, m)
	return sent.MessageID, err
}

func (s *meteredSender) SendReport(ctx context.Context, m phoneauth.Message) (phoneauth.Sent, error) {
	sent, err := phoneauth.SendReport(ctx, s.next, m)
	if err == nil {
		s.mu.Lock()
		s.by[sent.Channel]++
		s.mu.Unlock()
	}
	return sent, err
}

func TestWrapperKeepsTheReport(t *testing.T) {
	m := &meteredSender{
		next: delivery.ByChannel{SMS: &recordingSender{id: "sms-1"}, WhatsApp: &recordingSender{err: errors.New("down")}, FallbackToSMS: true},
		by:   map[phoneauth.Channel]int{},
	}
	f := channelFixture(t, m)
	r, err := f.requestOn(phoneauth.WhatsApp)
	if err != nil {
		t.Fatal(err)
	}
	if r.Channel != phoneauth.SMS || m.by[phoneauth.SMS] != 1 || m.by[phoneauth.WhatsApp] != 0 {
		t.Errorf("result channel %q, metered %v; want sms once", r.Channel, m.by)
	}
}

// SendReport tells which channel a message went out on: SMS here, after
// ByChannel's fallback from WhatsApp. A Sender that wraps another uses it
// to keep the wrapped Sender's report.
func ExampleSendReport() {
	byChannel := delivery.ByChannel{
		SMS: phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "sms-42", nil }),
		WhatsApp: phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) {
			return "", errors.New("not a WhatsApp user")
		}),
		FallbackToSMS: true,
	}
	sent, err := phoneauth.SendReport(context.Background(), byChannel, phoneauth.Message{To: "+15550100", Channel: phoneauth.WhatsApp})
	fmt.Println(sent.MessageID, sent.Channel, err)
	// Output: sms-42 sms <nil>
}
