package delivery

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	randv2 "math/rand/v2"
	"sync"
	"time"

	"github.com/phoneauth/phoneauth"
)

// Errors of Async.Send. Both come wrapped together with
// phoneauth.ErrSendFailed.
var (
	// ErrQueueFull reports a message refused because the queue is full.
	ErrQueueFull = errors.New("delivery: queue full")
	// ErrClosed reports a message refused because the Async is closed, and
	// a queued message abandoned because Close gave up.
	ErrClosed = errors.New("delivery: sender closed")
)

// Defaults of AsyncOptions.
const (
	DefaultQueueSize      = 1024
	DefaultWorkers        = 4
	DefaultMaxAttempts    = 3
	DefaultBaseDelay      = 500 * time.Millisecond
	DefaultMaxDelay       = 30 * time.Second
	DefaultAttemptTimeout = 30 * time.Second
)

// AsyncOptions configure an Async. The zero value is usable: every field
// has a default.
type AsyncOptions struct {
	// QueueSize is how many messages may wait to be sent. Default 1024.
	QueueSize int
	// Workers is the number of messages sent at once. Default 4.
	Workers int
	// MaxAttempts is the number of times one message is tried, the first
	// included. Default 3; 1 turns retries off.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff between attempts: after the
	// n-th failed attempt the wait is random in [0, min(MaxDelay,
	// BaseDelay·2ⁿ⁻¹)] ("full jitter"), and at least the failure's
	// RetryDelay. Defaults 500 ms and 30 s.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// AttemptTimeout bounds one call of the wrapped Sender. Default 30 s.
	AttemptTimeout time.Duration
	// Events, if set, receives the outcome of every message accepted by
	// Send, exactly once: phoneauth.EventDelivered with the provider's
	// MessageID, or phoneauth.EventDeliveryFailed with Err. Both carry Phone,
	// ChallengeID (the request id the Authenticator returned) and the
	// Channel the wrapped Sender reported (see phoneauth.SendReporter): the
	// channel the message went out on, or was tried on last, which is SMS
	// after a ByChannel fallback; Message.Channel if nothing was sent.
	// It is called from the worker goroutines, so it must be safe for
	// concurrent use.
	Events func(context.Context, phoneauth.Event)
	// Logger receives retries and failures (phone masked, never the code).
	// Default: discarded.
	Logger *slog.Logger
	// Clock stamps the events and decides when a code has expired. Default
	// phoneauth.SystemClock.
	Clock phoneauth.Clock
}

// Async is a Sender that queues messages and sends them in the background
// through another Sender, retrying temporary failures (see RetryableError)
// with exponential backoff. Send returns at once, so a slow provider does
// not hold up the request; the price is that a message that finally fails
// is only reported to AsyncOptions.Events, after the Authenticator has
// already answered the request as if the code were on its way.
//
// A message is never retried once its code has expired (Message.ExpiresAt),
// nor sent again after a send that succeeded. Create one with NewAsync and
// stop it with Close.
//
// The Authenticator reports phoneauth.EventCodeSent when Send queues the
// message (with the "async-…" message id); Async reports the real outcome
// later as phoneauth.EventDelivered or phoneauth.EventDeliveryFailed, with
// the same ChallengeID.
//
// Since Send returns before the real send, the Authenticator's
// RequestResult.Channel and EventCodeSent can only carry the channel asked
// for. The channel actually used, which a wrapped ByChannel changes to SMS
// after a fallback, reaches only EventDelivered and EventDeliveryFailed.
type Async struct {
	next  phoneauth.Sender
	opts  AsyncOptions
	log   *slog.Logger
	clock phoneauth.Clock
	sleep func(ctx context.Context, d time.Duration) error // injectable for tests
	randN func(n int64) int64                              // in [0, n)

	mu     sync.RWMutex // guards closed against sends on the closed queue
	closed bool
	queue  chan job

	stop     context.Context // cancelled when Close gives up
	cancel   context.CancelFunc
	done     chan struct{} // closed when every worker has returned
	shutdown sync.Once
}

// job is one queued message.
type job struct {
	ctx context.Context // the caller's values, without its cancellation
	msg phoneauth.Message
}

// NewAsync starts an Async sending through next with the workers of o.
// It returns an error for a nil next or negative options.
func NewAsync(next phoneauth.Sender, o AsyncOptions) (*Async, error) {
	return newAsync(next, o, sleepContext, randv2.Int64N)
}

func newAsync(next phoneauth.Sender, o AsyncOptions, sleep func(context.Context, time.Duration) error, randN func(int64) int64) (*Async, error) {
	if next == nil {
		return nil, errors.New("delivery: NewAsync needs a Sender")
	}
	if o.QueueSize < 0 || o.Workers < 0 || o.MaxAttempts < 0 || o.BaseDelay < 0 || o.MaxDelay < 0 || o.AttemptTimeout < 0 {
		return nil, errors.New("delivery: negative AsyncOptions")
	}
	o.QueueSize = cmp.Or(o.QueueSize, DefaultQueueSize)
	o.Workers = cmp.Or(o.Workers, DefaultWorkers)
	o.MaxAttempts = cmp.Or(o.MaxAttempts, DefaultMaxAttempts)
	o.BaseDelay = cmp.Or(o.BaseDelay, DefaultBaseDelay)
	o.MaxDelay = max(cmp.Or(o.MaxDelay, DefaultMaxDelay), o.BaseDelay)
	o.AttemptTimeout = cmp.Or(o.AttemptTimeout, DefaultAttemptTimeout)
	a := &Async{
		next:  next,
		opts:  o,
		log:   o.Logger,
		clock: o.Clock,
		sleep: sleep,
		randN: randN,
		queue: make(chan job, o.QueueSize),
		done:  make(chan struct{}),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.clock == nil {
		a.clock = phoneauth.SystemClock{}
	}
	a.stop, a.cancel = context.WithCancel(context.Background())
	var workers sync.WaitGroup
	workers.Add(o.Workers)
	for range o.Workers {
		go func() {
			defer workers.Done()
			a.work()
		}()
	}
	go func() {
		workers.Wait()
		close(a.done)
	}()
	return a, nil
}

// Send queues m and returns a message id of the form "async-…" at once.
// It never blocks: a full queue, a closed Async or a done ctx is an
// immediate error matching phoneauth.ErrSendFailed (and ErrQueueFull or
// ErrClosed). The background send keeps ctx's values but not its
// cancellation, since ctx normally ends with the request.
func (a *Async) Send(ctx context.Context, m phoneauth.Message) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%w: %w", phoneauth.ErrSendFailed, err)
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return "", fmt.Errorf("%w: %w", phoneauth.ErrSendFailed, ErrClosed)
	}
	select {
	case a.queue <- job{ctx: context.WithoutCancel(ctx), msg: m}:
		return "async-" + rand.Text(), nil
	default:
		return "", fmt.Errorf("%w: %w", phoneauth.ErrSendFailed, ErrQueueFull)
	}
}

// Close stops accepting messages and waits until every queued message has
// been sent or has failed. If ctx ends first, Close gives up: attempts in
// flight are cancelled, no more are made, the remaining messages are
// reported as failed (with ErrClosed) as the workers wind down, and Close
// returns ctx's error. Close may be called more than once.
func (a *Async) Close(ctx context.Context) error {
	a.shutdown.Do(func() {
		a.mu.Lock()
		a.closed = true
		close(a.queue)
		a.mu.Unlock()
	})
	select {
	case <-a.done:
		a.cancel()
		return nil
	case <-ctx.Done():
		a.cancel()
		return fmt.Errorf("delivery: closing with messages left: %w", ctx.Err())
	}
}

// work sends queued messages until the queue is closed and empty.
func (a *Async) work() {
	for j := range a.queue {
		a.deliver(j)
	}
}

// deliver tries j until it is sent, fails permanently, runs out of
// attempts or time, and reports the outcome once.
func (a *Async) deliver(j job) {
	m := j.msg
	sent := phoneauth.Sent{Channel: m.Channel} // what the last attempt reported
	var err error
	for attempt := 1; ; attempt++ {
		if a.stop.Err() != nil {
			err = fmt.Errorf("%w: %w", ErrClosed, errOr(err, a.stop.Err()))
			break
		}
		sent, err = a.attempt(j)
		if err == nil {
			a.report(j.ctx, phoneauth.EventDelivered, m, sent, nil)
			return
		}
		if a.stop.Err() != nil { // cut short by Close giving up
			err = fmt.Errorf("%w: %w", ErrClosed, err)
			break
		}
		if attempt >= a.opts.MaxAttempts || !IsTemporary(err) {
			break
		}
		delay := a.backoff(attempt, RetryDelay(err))
		if !m.ExpiresAt.IsZero() && !a.clock.Now().Add(delay).Before(m.ExpiresAt) {
			err = fmt.Errorf("delivery: the code expires before the next attempt: %w", err)
			break
		}
		a.log.LogAttrs(j.ctx, slog.LevelInfo, "phoneauth: send failed, retrying",
			slog.String("to", phoneauth.MaskPhone(m.To)),
			slog.String("challenge_id", m.ChallengeID),
			slog.Int("attempt", attempt),
			slog.Duration("delay", delay),
			slog.Any("error", err))
		if a.sleep(a.stop, delay) != nil {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
			break
		}
	}
	if !errors.Is(err, phoneauth.ErrSendFailed) {
		err = fmt.Errorf("%w: %w", phoneauth.ErrSendFailed, err)
	}
	a.log.LogAttrs(j.ctx, slog.LevelWarn, "phoneauth: send failed",
		slog.String("to", phoneauth.MaskPhone(m.To)),
		slog.String("channel", string(sent.Channel)),
		slog.String("challenge_id", m.ChallengeID),
		slog.Any("error", err))
	a.report(j.ctx, phoneauth.EventDeliveryFailed, m, phoneauth.Sent{Channel: sent.Channel}, err)
}

// attempt makes one call of the wrapped Sender, bounded by AttemptTimeout
// and cancelled if Close gives up, and returns its report (see
// phoneauth.SendReport). A panic in the Sender is a permanent failure
// rather than the end of the process.
func (a *Async) attempt(j job) (sent phoneauth.Sent, err error) {
	ctx, cancel := context.WithTimeout(j.ctx, a.opts.AttemptTimeout)
	defer cancel()
	defer context.AfterFunc(a.stop, cancel)()
	defer func() {
		if r := recover(); r != nil {
			sent = phoneauth.Sent{Channel: j.msg.Channel}
			err = fmt.Errorf("%w: delivery: Sender panicked: %v", phoneauth.ErrSendFailed, r)
		}
	}()
	return phoneauth.SendReport(ctx, a.next, j.msg)
}

// backoff returns the wait after the given number of failed attempts:
// full jitter under an exponential ceiling, but no less than retryAfter.
func (a *Async) backoff(failures int, retryAfter time.Duration) time.Duration {
	ceiling := a.opts.MaxDelay
	if shift := failures - 1; shift < 62 && a.opts.BaseDelay <= a.opts.MaxDelay>>shift {
		ceiling = a.opts.BaseDelay << shift
	}
	return max(time.Duration(a.randN(int64(ceiling)+1)), retryAfter)
}

// report sends the outcome of m, as the wrapped Sender reported it, to
// AsyncOptions.Events.
func (a *Async) report(ctx context.Context, kind phoneauth.EventKind, m phoneauth.Message, sent phoneauth.Sent, err error) {
	if a.opts.Events == nil {
		return
	}
	a.opts.Events(ctx, phoneauth.Event{
		Kind:        kind,
		Time:        a.clock.Now(),
		Phone:       m.To,
		ChallengeID: m.ChallengeID,
		Channel:     sent.Channel,
		MessageID:   sent.MessageID,
		Err:         err,
	})
}

// sleepContext waits for d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
