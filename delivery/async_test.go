package delivery

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/internal/testutil"
)

// fakeSender calls fn for every attempt and counts attempts and successful
// deliveries per challenge id.
type fakeSender struct {
	fn func(ctx context.Context, m phoneauth.Message, attempt int) (string, error)

	mu        sync.Mutex
	attempts  map[string]int
	delivered map[string]int
}

func newFake(fn func(ctx context.Context, m phoneauth.Message, attempt int) (string, error)) *fakeSender {
	return &fakeSender{fn: fn, attempts: map[string]int{}, delivered: map[string]int{}}
}

func (f *fakeSender) Send(ctx context.Context, m phoneauth.Message) (string, error) {
	f.mu.Lock()
	f.attempts[m.ChallengeID]++
	n := f.attempts[m.ChallengeID]
	f.mu.Unlock()
	id, err := f.fn(ctx, m, n)
	if err == nil {
		f.mu.Lock()
		f.delivered[m.ChallengeID]++
		f.mu.Unlock()
	}
	return id, err
}

func (f *fakeSender) counts(challenge string) (attempts, delivered int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[challenge], f.delivered[challenge]
}

// recorder collects events and the delays asked of the injected sleep.
type recorder struct {
	events testutil.Recorder[phoneauth.Event]
	delays testutil.Recorder[time.Duration]
}

func (r *recorder) observe(ctx context.Context, e phoneauth.Event) { r.events.Record(ctx, e) }

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.delays.Record(ctx, d)
	return ctx.Err()
}

func (r *recorder) snapshot() ([]phoneauth.Event, []time.Duration) {
	return r.events.All(), r.delays.All()
}

// maxRand makes the jitter pick the top of its range; zeroRand the bottom.
func maxRand(n int64) int64  { return n - 1 }
func zeroRand(n int64) int64 { return 0 }

func start(t *testing.T, s phoneauth.Sender, o AsyncOptions, randN func(int64) int64) (*Async, *recorder) {
	t.Helper()
	rec := &recorder{}
	o.Events = rec.observe
	a, err := newAsync(s, o, rec.sleep, randN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	return a, rec
}

func msg(i int) phoneauth.Message {
	return phoneauth.Message{To: "+15550100", Channel: phoneauth.SMS, Code: "123456", ChallengeID: fmt.Sprintf("ch%d", i)}
}

var errTemporary = Retryable(errors.New("provider busy"), 0)

func TestAsyncSendsAndReports(t *testing.T) {
	s := newFake(func(context.Context, phoneauth.Message, int) (string, error) { return "SM1", nil })
	a, rec := start(t, s, AsyncOptions{}, maxRand)
	m := msg(1)
	m.Channel = phoneauth.WhatsApp
	id, err := a.Send(context.Background(), m)
	if err != nil || !strings.HasPrefix(id, "async-") {
		t.Fatalf("Send = %q, %v", id, err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	events, delays := rec.snapshot()
	if len(events) != 1 || len(delays) != 0 {
		t.Fatalf("events %+v, delays %v", events, delays)
	}
	e := events[0]
	if e.Kind != phoneauth.EventDelivered || e.MessageID != "SM1" || e.ChallengeID != "ch1" || e.Phone != m.To || e.Channel != phoneauth.WhatsApp || e.Err != nil || e.Time.IsZero() {
		t.Errorf("event = %+v", e)
	}
}

func TestAsyncRetriesTemporaryFailuresUpToMaxAttempts(t *testing.T) {
	s := newFake(func(context.Context, phoneauth.Message, int) (string, error) { return "", errTemporary })
	a, rec := start(t, s, AsyncOptions{MaxAttempts: 5, BaseDelay: time.Second, MaxDelay: 3 * time.Second}, maxRand)
	if _, err := a.Send(context.Background(), msg(1)); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if attempts, delivered := s.counts("ch1"); attempts != 5 || delivered != 0 {
		t.Errorf("attempts %d, delivered %d; want 5, 0", attempts, delivered)
	}
	events, delays := rec.snapshot()
	// Full jitter at the top of its range: 1 s, 2 s, then capped at 3 s.
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}; fmt.Sprint(delays) != fmt.Sprint(want) {
		t.Errorf("delays %v, want %v", delays, want)
	}
	if len(events) != 1 || events[0].Kind != phoneauth.EventDeliveryFailed || !errors.Is(events[0].Err, phoneauth.ErrSendFailed) || !errors.Is(events[0].Err, errTemporary) {
		t.Errorf("events %+v", events)
	}
}

func TestAsyncRetriesThenSucceeds(t *testing.T) {
	s := newFake(func(_ context.Context, _ phoneauth.Message, attempt int) (string, error) {
		if attempt < 3 {
			return "", errTemporary
		}
		return "SM3", nil
	})
	a, rec := start(t, s, AsyncOptions{MaxAttempts: 3}, zeroRand)
	if _, err := a.Send(context.Background(), msg(1)); err != nil {
		t.Fatal(err)
	}
	_ = a.Close(context.Background())
	if attempts, delivered := s.counts("ch1"); attempts != 3 || delivered != 1 {
		t.Errorf("attempts %d, delivered %d; want 3, 1", attempts, delivered)
	}
	events, _ := rec.snapshot()
	if len(events) != 1 || events[0].Kind != phoneauth.EventDelivered || events[0].MessageID != "SM3" {
		t.Errorf("events %+v", events)
	}
}

func TestAsyncDoesNotRetryPermanentFailures(t *testing.T) {
	permanent := fmt.Errorf("%w: invalid number", phoneauth.ErrSendFailed)
	for name, err := range map[string]error{
		"plain":                 errors.New("boom"),
		"ErrSendFailed":         permanent,
		"Temporary() false":     notTemporary{},
		"context deadline":      context.DeadlineExceeded,
		"wrapped not temporary": fmt.Errorf("x: %w", notTemporary{}),
	} {
		t.Run(name, func(t *testing.T) {
			s := newFake(func(context.Context, phoneauth.Message, int) (string, error) { return "", err })
			a, rec := start(t, s, AsyncOptions{MaxAttempts: 5}, maxRand)
			if _, err := a.Send(context.Background(), msg(1)); err != nil {
				t.Fatal(err)
			}
			_ = a.Close(context.Background())
			if attempts, _ := s.counts("ch1"); attempts != 1 {
				t.Errorf("attempts %d, want 1", attempts)
			}
			events, delays := rec.snapshot()
			if len(delays) != 0 || len(events) != 1 || !errors.Is(events[0].Err, err) || !errors.Is(events[0].Err, phoneauth.ErrSendFailed) {
				t.Errorf("delays %v, events %+v", delays, events)
			}
		})
	}
}

type notTemporary struct{}

func (notTemporary) Error() string             { return "not temporary" }
func (notTemporary) Temporary() bool           { return false }
func (notTemporary) RetryDelay() time.Duration { return time.Second }

func TestAsyncHonoursRetryAfter(t *testing.T) {
	s := newFake(func(_ context.Context, _ phoneauth.Message, attempt int) (string, error) {
		switch attempt {
		case 1:
			return "", Retryable(errors.New("429"), 7*time.Second) // more than the jitter
		case 2:
			return "", Retryable(errors.New("429"), time.Millisecond) // less than the jitter
		}
		return "SM", nil
	})
	a, rec := start(t, s, AsyncOptions{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 4 * time.Second}, maxRand)
	if _, err := a.Send(context.Background(), msg(1)); err != nil {
		t.Fatal(err)
	}
	_ = a.Close(context.Background())
	_, delays := rec.snapshot()
	if want := []time.Duration{7 * time.Second, 2 * time.Second}; fmt.Sprint(delays) != fmt.Sprint(want) {
		t.Errorf("delays %v, want %v", delays, want)
	}
}

func TestAsyncStopsRetryingWhenTheCodeExpires(t *testing.T) {
	clock := phoneauth.NewManualClock(time.Date(2026, 2, 3, 14, 0, 0, 0, time.UTC))
	s := newFake(func(context.Context, phoneauth.Message, int) (string, error) {
		return "", Retryable(errors.New("busy"), time.Minute)
	})
	a, rec := start(t, s, AsyncOptions{MaxAttempts: 5, Clock: clock}, zeroRand)
	m := msg(1)
	m.ExpiresAt = clock.Now().Add(time.Minute) // the retry would land exactly at expiry
	if _, err := a.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	_ = a.Close(context.Background())
	if attempts, _ := s.counts("ch1"); attempts != 1 {
		t.Errorf("attempts %d, want 1", attempts)
	}
	events, delays := rec.snapshot()
	if len(delays) != 0 || len(events) != 1 || events[0].Kind != phoneauth.EventDeliveryFailed || !strings.Contains(events[0].Err.Error(), "expires") {
		t.Errorf("delays %v, events %+v", delays, events)
	}
	if !events[0].Time.Equal(clock.Now()) {
		t.Errorf("event time %v, want the clock's %v", events[0].Time, clock.Now())
	}
}

func TestAsyncFullQueueIsAnImmediateError(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	s := newFake(func(_ context.Context, m phoneauth.Message, _ int) (string, error) {
		if m.ChallengeID == "ch0" {
			close(started)
			<-release
		}
		return "SM", nil
	})
	a, rec := start(t, s, AsyncOptions{Workers: 1, QueueSize: 2}, zeroRand)
	if _, err := a.Send(context.Background(), msg(0)); err != nil {
		t.Fatal(err)
	}
	<-started // the worker holds ch0; the queue is empty
	for i := 1; i <= 2; i++ {
		if _, err := a.Send(context.Background(), msg(i)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	done := make(chan error)
	go func() {
		_, err := a.Send(context.Background(), msg(3))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrQueueFull) || !errors.Is(err, phoneauth.ErrSendFailed) {
			t.Errorf("Send on a full queue: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send blocked on a full queue")
	}
	close(release)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	events, _ := rec.snapshot()
	if len(events) != 3 {
		t.Errorf("%d events, want 3 (the refused message is not reported)", len(events))
	}
	if attempts, _ := s.counts("ch3"); attempts != 0 {
		t.Errorf("refused message was attempted %d times", attempts)
	}
}

func TestAsyncSendAfterClose(t *testing.T) {
	a, _ := start(t, newFake(func(context.Context, phoneauth.Message, int) (string, error) { return "SM", nil }), AsyncOptions{}, zeroRand)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := a.Send(context.Background(), msg(1)); !errors.Is(err, ErrClosed) || !errors.Is(err, phoneauth.ErrSendFailed) {
		t.Errorf("Send after Close: %v", err)
	}
}

func TestAsyncSendWithDoneContext(t *testing.T) {
	s := newFake(func(context.Context, phoneauth.Message, int) (string, error) { return "SM", nil })
	a, _ := start(t, s, AsyncOptions{}, zeroRand)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Send(ctx, msg(1)); !errors.Is(err, context.Canceled) || !errors.Is(err, phoneauth.ErrSendFailed) {
		t.Errorf("Send = %v", err)
	}
}

// TestAsyncDrainsUnderLoad sends many messages from several goroutines
// through a sender that is slow for some, fails temporarily once for others
// and permanently for others: after Close every message has exactly one
// outcome and none was delivered twice.
func TestAsyncDrainsUnderLoad(t *testing.T) {
	const n = 400
	// The slow messages are held until every message is queued, so that
	// sends, retries and deliveries overlap.
	allQueued := make(chan struct{})
	s := newFake(func(_ context.Context, m phoneauth.Message, attempt int) (string, error) {
		var i int
		fmt.Sscanf(m.ChallengeID, "ch%d", &i)
		switch i % 4 {
		case 0:
			<-allQueued // slow
		case 1:
			if attempt == 1 {
				return "", errTemporary
			}
		case 2:
			return "", errors.New("permanent")
		}
		return "SM-" + m.ChallengeID, nil
	})
	a, rec := start(t, s, AsyncOptions{Workers: 4, QueueSize: n, MaxAttempts: 3}, maxRand)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 4 {
				if _, err := a.Send(context.Background(), msg(i)); err != nil {
					t.Errorf("Send %d: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(allQueued)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	events, _ := rec.snapshot()
	if len(events) != n {
		t.Fatalf("%d events for %d messages", len(events), n)
	}
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.ChallengeID] {
			t.Fatalf("two outcomes for %s", e.ChallengeID)
		}
		seen[e.ChallengeID] = true
		var i int
		fmt.Sscanf(e.ChallengeID, "ch%d", &i)
		attempts, delivered := s.counts(e.ChallengeID)
		wantKind, wantAttempts, wantDelivered := phoneauth.EventDelivered, 1, 1
		switch i % 4 {
		case 1:
			wantAttempts = 2
		case 2:
			wantKind, wantDelivered = phoneauth.EventDeliveryFailed, 0
		}
		if e.Kind != wantKind || attempts != wantAttempts || delivered != wantDelivered {
			t.Errorf("%s: %s after %d attempts, delivered %d; want %s, %d, %d", e.ChallengeID, e.Kind, attempts, delivered, wantKind, wantAttempts, wantDelivered)
		}
	}
}

// TestAsyncCloseRacingSends closes while others send: a message whose Send
// succeeded has exactly one outcome; one whose Send failed has none.
func TestAsyncCloseRacingSends(t *testing.T) {
	s := newFake(func(_ context.Context, m phoneauth.Message, _ int) (string, error) { return "SM-" + m.ChallengeID, nil })
	a, rec := start(t, s, AsyncOptions{Workers: 2, QueueSize: 16}, zeroRand)
	var accepted sync.Map
	var wg sync.WaitGroup
	// Close waits until each sender has sent once, so that
	// every sender is under way when it closes.
	var started sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for i := g; i < 2000; i += 4 {
				if _, err := a.Send(context.Background(), msg(i)); err == nil {
					accepted.Store(msg(i).ChallengeID, true)
				} else if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrQueueFull) {
					t.Errorf("Send: %v", err)
				}
				if first {
					first = false
					started.Done()
				}
			}
		}()
	}
	started.Wait()
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	events, _ := rec.snapshot()
	outcomes := map[string]int{}
	for _, e := range events {
		outcomes[e.ChallengeID]++
	}
	nAccepted := 0
	accepted.Range(func(k, _ any) bool {
		nAccepted++
		if outcomes[k.(string)] != 1 {
			t.Errorf("%s accepted, %d outcomes", k, outcomes[k.(string)])
		}
		return true
	})
	if len(outcomes) != nAccepted {
		t.Errorf("%d messages with an outcome, %d accepted", len(outcomes), nAccepted)
	}
}

func TestAsyncCloseGivesUpWhenContextEnds(t *testing.T) {
	var calls atomic.Int32
	started := make(chan struct{})
	s := newFake(func(ctx context.Context, _ phoneauth.Message, _ int) (string, error) {
		if calls.Add(1) == 1 {
			close(started)
		}
		<-ctx.Done() // a provider that never answers
		return "", ctx.Err()
	})
	a, rec := start(t, s, AsyncOptions{Workers: 1, AttemptTimeout: time.Hour}, zeroRand)
	for i := range 3 {
		if _, err := a.Send(context.Background(), msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("workers did not stop after Close gave up")
	}
	if calls.Load() != 1 {
		t.Errorf("%d attempts after Close gave up, want only the one in flight", calls.Load())
	}
	events, _ := rec.snapshot()
	if len(events) != 3 {
		t.Fatalf("%d events, want 3", len(events))
	}
	for _, e := range events {
		if e.Kind != phoneauth.EventDeliveryFailed || !errors.Is(e.Err, phoneauth.ErrSendFailed) {
			t.Errorf("event %+v", e)
		}
		if !errors.Is(e.Err, ErrClosed) {
			t.Errorf("message %s failed with %v, want ErrClosed", e.ChallengeID, e.Err)
		}
	}
}

func TestAsyncCloseInterruptsBackoff(t *testing.T) {
	s := newFake(func(context.Context, phoneauth.Message, int) (string, error) {
		return "", Retryable(errors.New("busy"), time.Hour)
	})
	rec := &recorder{}
	// The real sleep: Close must cut the hour short.
	a, err := newAsync(s, AsyncOptions{Workers: 1, Events: rec.observe}, sleepContext, zeroRand)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(context.Background(), msg(1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := a.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v", err)
	}
	<-a.done
	events, _ := rec.snapshot()
	if len(events) != 1 || !errors.Is(events[0].Err, ErrClosed) {
		t.Errorf("events %+v", events)
	}
	if attempts, _ := s.counts("ch1"); attempts != 1 {
		t.Errorf("attempts %d, want 1", attempts)
	}
}

func TestAsyncAttemptTimeout(t *testing.T) {
	s := newFake(func(ctx context.Context, _ phoneauth.Message, _ int) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	})
	a, rec := start(t, s, AsyncOptions{AttemptTimeout: 10 * time.Millisecond}, zeroRand)
	if _, err := a.Send(context.Background(), msg(1)); err != nil {
		t.Fatal(err)
	}
	_ = a.Close(context.Background())
	events, _ := rec.snapshot()
	if len(events) != 1 || !errors.Is(events[0].Err, context.DeadlineExceeded) {
		t.Errorf("events %+v", events)
	}
}

type ctxKey struct{}

func TestAsyncKeepsContextValuesButNotCancellation(t *testing.T) {
	release := make(chan struct{})
	got := make(chan string, 1)
	s := newFake(func(ctx context.Context, _ phoneauth.Message, _ int) (string, error) {
		<-release // run only after the caller's context has ended
		if ctx.Err() != nil {
			got <- "cancelled"
		} else {
			v, _ := ctx.Value(ctxKey{}).(string)
			got <- v
		}
		return "SM", nil
	})
	a, _ := start(t, s, AsyncOptions{}, zeroRand)
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "trace-1"))
	if _, err := a.Send(ctx, msg(1)); err != nil {
		t.Fatal(err)
	}
	cancel() // the request ends before the message is sent
	close(release)
	_ = a.Close(context.Background())
	if v := <-got; v != "trace-1" {
		t.Errorf("sender saw %q, want the value trace-1 and no cancellation", v)
	}
}

func TestAsyncSurvivesAPanickingSender(t *testing.T) {
	s := newFake(func(context.Context, phoneauth.Message, int) (string, error) { panic("bug") })
	a, rec := start(t, s, AsyncOptions{}, zeroRand)
	if _, err := a.Send(context.Background(), msg(1)); err != nil {
		t.Fatal(err)
	}
	_ = a.Close(context.Background())
	events, _ := rec.snapshot()
	if len(events) != 1 || !errors.Is(events[0].Err, phoneauth.ErrSendFailed) || !strings.Contains(events[0].Err.Error(), "panicked: bug") {
		t.Errorf("events %+v", events)
	}
}

func TestNewAsyncRejects(t *testing.T) {
	ok := phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "", nil })
	if _, err := NewAsync(nil, AsyncOptions{}); err == nil {
		t.Error("NewAsync(nil) succeeded")
	}
	for _, o := range []AsyncOptions{{QueueSize: -1}, {Workers: -1}, {MaxAttempts: -1}, {BaseDelay: -1}, {MaxDelay: -1}, {AttemptTimeout: -1}} {
		if _, err := NewAsync(ok, o); err == nil {
			t.Errorf("NewAsync(%+v) succeeded", o)
		}
	}
}

func TestBackoffStaysInBounds(t *testing.T) {
	a := &Async{opts: AsyncOptions{BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second}}
	for _, randN := range []func(int64) int64{zeroRand, maxRand} {
		a.randN = randN
		for failures := 1; failures < 200; failures++ {
			ceiling := min(100*time.Millisecond<<min(failures-1, 20), 10*time.Second)
			d := a.backoff(failures, 0)
			if d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, ceiling %v", failures, d, ceiling)
			}
			if d := a.backoff(failures, time.Minute); d != time.Minute {
				t.Fatalf("backoff(%d, 1m) = %v", failures, d)
			}
		}
	}
}

// BenchmarkAsync measures the throughput of the queue and workers with a
// sender that does nothing: Send, and delivery by a worker, per op.
func BenchmarkAsync(b *testing.B) {
	var sent atomic.Int64
	s := phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) {
		sent.Add(1)
		return "SM", nil
	})
	a, err := NewAsync(s, AsyncOptions{})
	if err != nil {
		b.Fatal(err)
	}
	m := msg(1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for {
			_, err := a.Send(ctx, m)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) {
				b.Fatal(err)
			}
			runtime.Gosched()
		}
	}
	if err := a.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if sent.Load() < int64(b.N) {
		b.Fatalf("sent %d of %d", sent.Load(), b.N)
	}
}

func TestAsyncReportsTheChannelByChannelUsed(t *testing.T) {
	waErr := errors.New("whatsapp: not on WhatsApp")
	whatsapp := phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "", waErr })
	tests := []struct {
		name    string
		sms     phoneauth.SenderFunc
		ch      phoneauth.Channel
		kind    phoneauth.EventKind
		wantCh  phoneauth.Channel
		wantID  string
		wantErr error
	}{
		{
			name: "fallback delivered",
			sms: func(_ context.Context, m phoneauth.Message) (string, error) {
				return "SM-" + string(m.Channel), nil
			},
			ch: phoneauth.WhatsApp, kind: phoneauth.EventDelivered, wantCh: phoneauth.SMS, wantID: "SM-sms",
		},
		{
			name: "fallback failed",
			sms: func(context.Context, phoneauth.Message) (string, error) {
				return "", errors.New("sms: unreachable")
			},
			ch: phoneauth.WhatsApp, kind: phoneauth.EventDeliveryFailed, wantCh: phoneauth.SMS, wantErr: waErr,
		},
		{
			name: "sms asked for",
			sms: func(_ context.Context, m phoneauth.Message) (string, error) {
				return "SM-" + string(m.Channel), nil
			},
			ch: phoneauth.SMS, kind: phoneauth.EventDelivered, wantCh: phoneauth.SMS, wantID: "SM-sms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, rec := start(t, ByChannel{SMS: tt.sms, WhatsApp: whatsapp, FallbackToSMS: true}, AsyncOptions{Workers: 1}, zeroRand)
			m := msg(1)
			m.Channel = tt.ch
			if _, err := a.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			if err := a.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			events, _ := rec.snapshot()
			if len(events) != 1 {
				t.Fatalf("events %+v", events)
			}
			e := events[0]
			if e.Kind != tt.kind || e.Channel != tt.wantCh || e.MessageID != tt.wantID || !errors.Is(e.Err, tt.wantErr) || (tt.wantErr == nil) != (e.Err == nil) {
				t.Errorf("event = %+v; want %s on %s, id %q, err %v", e, tt.kind, tt.wantCh, tt.wantID, tt.wantErr)
			}
		})
	}
}

func TestAsyncReportsTheAskedChannelWhenNothingWasSent(t *testing.T) {
	// A panicking Sender reports nothing: the event keeps the channel
	// asked for.
	s := phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { panic("boom") })
	a, rec := start(t, s, AsyncOptions{Workers: 1}, zeroRand)
	m := msg(1)
	m.Channel = phoneauth.WhatsApp
	if _, err := a.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	events, _ := rec.snapshot()
	if len(events) != 1 || events[0].Kind != phoneauth.EventDeliveryFailed || events[0].Channel != phoneauth.WhatsApp {
		t.Errorf("events %+v", events)
	}
}
