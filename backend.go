package phoneauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Every call the Authenticator makes to its Store, Users and Limiter goes
// through the wrappers of this file, which New puts around them once. A
// call gets Config.StoreTimeout, so that a backend that hangs is answered
// with ErrStoreUnavailable instead of holding the request; and each backend
// keeps its health, so that an outage is logged when it starts, at most
// once a minute while it lasts, and when it ends, not once per request.

// DefaultStoreTimeout is the default of Config.StoreTimeout.
const DefaultStoreTimeout = 3 * time.Second

// outageReminder is how often a backend that stays down is logged again.
const outageReminder = time.Minute

// A backend is one of the Authenticator's Store, Users or Limiter, as seen
// through its wrapper: the deadline of its calls and its health.
type backend struct {
	name    string // "store", "users" or "limiter", in logs
	timeout time.Duration
	clock   Clock
	log     *slog.Logger

	down     atomic.Bool // read on every call; the fields below only when it is set
	mu       sync.Mutex
	since    time.Time // the first failure of the outage
	failures int       // failed calls since then
	reminded time.Time // when the outage was last logged
}

func newBackend(name string, cfg *Config) *backend {
	return &backend{name: name, timeout: cfg.StoreTimeout, clock: cfg.Clock, log: cfg.Logger}
}

// do runs one call of the backend, f, under the backend's deadline. A call
// that ran out of time returns an error matching ErrStoreUnavailable and
// context.DeadlineExceeded; other errors are returned as they are.
func (b *backend) do(ctx context.Context, op string, f func(context.Context) error) error {
	callCtx := ctx
	if b.timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	err := f(callCtx)
	switch {
	case err == nil || isAnswer(err):
		b.answered(ctx)
	case ctx.Err() != nil:
		// The caller gave up (a client that went away): that says nothing
		// about the backend.
	default:
		if callCtx.Err() != nil && !errors.Is(err, ErrStoreUnavailable) {
			err = fmt.Errorf("%w: %s %s: no answer within %s: %w", ErrStoreUnavailable, b.name, op, b.timeout, err)
		}
		b.failed(ctx, op, err)
	}
	return err
}

// call is do for a call that returns a value.
func call[T any](b *backend, ctx context.Context, op string, f func(context.Context) (T, error)) (T, error) {
	var v T
	err := b.do(ctx, op, func(ctx context.Context) error {
		var err error
		v, err = f(ctx)
		return err
	})
	return v, err
}

// isAnswer reports whether err is one of the answers a backend's contract
// gives (see Store and Users), rather than a failure.
func isAnswer(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrTokenReused) || errors.Is(err, ErrPhoneTaken)
}

// failed records a failed call: the first of an outage is logged at once,
// later ones once per outageReminder with their count.
func (b *backend) failed(ctx context.Context, op string, err error) {
	b.mu.Lock()
	now := b.clock.Now()
	first := !b.down.Load()
	if first {
		b.down.Store(true)
		b.since, b.failures, b.reminded = now, 0, now
	}
	b.failures++
	remind := !first && now.Sub(b.reminded) >= outageReminder
	if remind {
		b.reminded = now
	}
	failures, since := b.failures, b.since
	b.mu.Unlock()
	switch {
	case first:
		b.log.ErrorContext(ctx, "phoneauth: "+b.name+" unavailable; answering ErrStoreUnavailable until it recovers", "op", op, "err", err)
	case remind:
		b.log.ErrorContext(ctx, "phoneauth: "+b.name+" still unavailable", "for", now.Sub(since), "failures", failures, "op", op, "err", err)
	}
}

// answered records a call that the backend answered, which ends an outage.
func (b *backend) answered(ctx context.Context) {
	if !b.down.Load() {
		return
	}
	b.mu.Lock()
	if !b.down.Load() { // another call logged the recovery
		b.mu.Unlock()
		return
	}
	b.down.Store(false)
	failures, since := b.failures, b.since
	b.mu.Unlock()
	b.log.InfoContext(ctx, "phoneauth: "+b.name+" available again", "after", b.clock.Now().Sub(since), "failures", failures)
}

// guardedStore is the Authenticator's Store.
type guardedStore struct {
	s Store
	b *backend
}

func (g guardedStore) PutChallenge(ctx context.Context, c Challenge) error {
	return g.b.do(ctx, "put challenge", func(ctx context.Context) error { return g.s.PutChallenge(ctx, c) })
}

func (g guardedStore) GetChallenge(ctx context.Context, key string, now time.Time) (Challenge, error) {
	return call(g.b, ctx, "get challenge", func(ctx context.Context) (Challenge, error) { return g.s.GetChallenge(ctx, key, now) })
}

func (g guardedStore) AttemptChallenge(ctx context.Context, key, id string, now time.Time) (Challenge, error) {
	return call(g.b, ctx, "attempt challenge", func(ctx context.Context) (Challenge, error) { return g.s.AttemptChallenge(ctx, key, id, now) })
}

func (g guardedStore) DeleteChallenge(ctx context.Context, key, id string) error {
	return g.b.do(ctx, "delete challenge", func(ctx context.Context) error { return g.s.DeleteChallenge(ctx, key, id) })
}

func (g guardedStore) CreateSession(ctx context.Context, s Session) error {
	return g.b.do(ctx, "create session", func(ctx context.Context) error { return g.s.CreateSession(ctx, s) })
}

func (g guardedStore) GetSession(ctx context.Context, id string, now time.Time) (Session, error) {
	return call(g.b, ctx, "get session", func(ctx context.Context) (Session, error) { return g.s.GetSession(ctx, id, now) })
}

func (g guardedStore) RotateRefresh(ctx context.Context, r Rotation) (Session, error) {
	return call(g.b, ctx, "rotate refresh", func(ctx context.Context) (Session, error) { return g.s.RotateRefresh(ctx, r) })
}

func (g guardedStore) DeleteSession(ctx context.Context, id string) error {
	return g.b.do(ctx, "delete session", func(ctx context.Context) error { return g.s.DeleteSession(ctx, id) })
}

func (g guardedStore) ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	return call(g.b, ctx, "list sessions", func(ctx context.Context) ([]Session, error) { return g.s.ListSessions(ctx, userID, now) })
}

// guardedUsers is the Authenticator's Users.
type guardedUsers struct {
	u Users
	b *backend
}

func (g guardedUsers) UserByPhone(ctx context.Context, phone string) (User, error) {
	return call(g.b, ctx, "user by phone", func(ctx context.Context) (User, error) { return g.u.UserByPhone(ctx, phone) })
}

// createdUser is what Users.CreateUser returns.
type createdUser struct {
	u       User
	created bool
}

func (g guardedUsers) CreateUser(ctx context.Context, phone string, metadata map[string]any) (User, bool, error) {
	r, err := call(g.b, ctx, "create user", func(ctx context.Context) (createdUser, error) {
		u, created, err := g.u.CreateUser(ctx, phone, metadata)
		return createdUser{u, created}, err
	})
	return r.u, r.created, err
}

func (g guardedUsers) SetPhone(ctx context.Context, userID, phone string) error {
	return g.b.do(ctx, "set phone", func(ctx context.Context) error { return g.u.SetPhone(ctx, userID, phone) })
}

// guardedLimiter is the Authenticator's Limiter. batch is the same limiter
// if it is a BatchLimiter, else nil.
type guardedLimiter struct {
	l     Limiter
	batch BatchLimiter
	b     *backend
}

func newGuardedLimiter(l Limiter, cfg *Config) guardedLimiter {
	batch, _ := l.(BatchLimiter)
	return guardedLimiter{l: l, batch: batch, b: newBackend("limiter", cfg)}
}

// decision is what Limiter.Allow and BatchLimiter.AllowAll return.
type decision struct {
	ok      bool
	refused int
	retry   time.Duration
}

func (g guardedLimiter) Allow(ctx context.Context, key string, l Limit, now time.Time) (bool, time.Duration, error) {
	d, err := call(g.b, ctx, "allow", func(ctx context.Context) (decision, error) {
		ok, retry, err := g.l.Allow(ctx, key, l, now)
		return decision{ok: ok, retry: retry}, err
	})
	return d.ok, d.retry, err
}

// AllowAll calls the limiter's AllowAll; g.batch must not be nil.
func (g guardedLimiter) AllowAll(ctx context.Context, checks []LimitCheck, now time.Time) (int, time.Duration, error) {
	d, err := call(g.b, ctx, "allow all", func(ctx context.Context) (decision, error) {
		refused, retry, err := g.batch.AllowAll(ctx, checks, now)
		return decision{refused: refused, retry: retry}, err
	})
	return d.refused, d.retry, err
}

func (g guardedLimiter) Refund(ctx context.Context, key string, l Limit, now time.Time) error {
	return g.b.do(ctx, "refund", func(ctx context.Context) error { return g.l.Refund(ctx, key, l, now) })
}

func (g guardedLimiter) Reset(ctx context.Context, key string) error {
	return g.b.do(ctx, "reset", func(ctx context.Context) error { return g.l.Reset(ctx, key) })
}
