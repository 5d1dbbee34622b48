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
// once a minute while it lasts, and when it ends (once the backend has
// answered without failing for outageQuiet), not once per request.

// DefaultStoreTimeout is the default of Config.StoreTimeout.
const DefaultStoreTimeout = 3 * time.Second

// outageReminder is how often a backend that stays down is logged again.
const outageReminder = time.Minute

// outageQuiet is how long a backend must answer without failing for its
// outage to end: one that fails now and then (a node of a cluster down,
// connections being killed), its answers and failures interleaved, is one
// outage in the log, not one per failed call.
const outageQuiet = 10 * time.Second

// A backend is one of the Authenticator's Store, Users or Limiter, as seen
// through its wrapper: the deadline of its calls and its health.
type backend struct {
	name    string // "store", "users" or "limiter", in logs
	timeout time.Duration
	// inProcess is set for the package's in-memory backends, whose calls
	// wait for nothing but their own short locks.
	inProcess bool
	clock     Clock
	log       *slog.Logger

	down     atomic.Bool // read on every call; the fields below only when it is set
	mu       sync.Mutex
	since    time.Time // the first failure of the outage
	last     time.Time // its last failure
	failures int       // failed calls since then
	reminded time.Time // when the outage was last logged
}

// newBackend returns the backend b under cfg. The package's in-memory
// backends, which wait for nothing but their own short locks, get no
// deadline: it would cost more than their calls.
func newBackend(name string, b any, cfg *Config) *backend {
	timeout, inProcess := cfg.StoreTimeout, false
	switch b.(type) {
	case *MemoryStore, *MemoryLimiter:
		timeout, inProcess = 0, true
	}
	return &backend{name: name, timeout: timeout, inProcess: inProcess, clock: cfg.Clock, log: cfg.Logger}
}

// noCancel is the cancel func of a call without a deadline of its own.
var noCancel context.CancelFunc = func() {}

// start begins a call of the backend: callCtx is ctx under the backend's
// deadline, to pass to the backend; cancel must be called when the call is
// over.
func (b *backend) start(ctx context.Context) (callCtx context.Context, cancel context.CancelFunc) {
	if b.timeout <= 0 {
		return ctx, noCancel
	}
	return context.WithTimeout(ctx, b.timeout)
}

// end records the outcome of a call started with start, ctx being the
// caller's context, and returns its error: as it is, or, for a call that
// ran out of time, wrapped to match ErrStoreUnavailable and
// context.DeadlineExceeded and say so.
func (b *backend) end(ctx, callCtx context.Context, op string, err error) error {
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
	b.last = now
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

// answered records a call that the backend answered, which ends an outage
// whose last failure is outageQuiet old.
func (b *backend) answered(ctx context.Context) {
	if !b.down.Load() {
		return
	}
	b.mu.Lock()
	now := b.clock.Now()
	if !b.down.Load() || now.Sub(b.last) < outageQuiet { // another call logged the recovery, or it still fails now and then
		b.mu.Unlock()
		return
	}
	b.down.Store(false)
	failures, since := b.failures, b.since
	b.mu.Unlock()
	b.log.InfoContext(ctx, "phoneauth: "+b.name+" available again", "after", now.Sub(since), "failures", failures)
}

// The wrappers: each method is a call of its backend between start and
// end.

// guardedStore is the Authenticator's Store. routes is the same store if
// the Authenticator uses its route calls (see RouteStore), else nil.
type guardedStore struct {
	s      Store
	routes RouteStore
	b      *backend
}

// IssueChallenge calls the store's IssueChallenge; g.routes must not be nil.
func (g guardedStore) IssueChallenge(ctx context.Context, r IssueRoute) (int, time.Duration, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	refused, retry, err := g.routes.IssueChallenge(callCtx, r)
	return refused, retry, g.b.end(ctx, callCtx, "issue challenge", err)
}

// RefreshSession calls the store's RefreshSession; g.routes must not be
// nil.
func (g guardedStore) RefreshSession(ctx context.Context, checks []LimitCheck, r Rotation) (Session, int, time.Duration, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	s, refused, retry, err := g.routes.RefreshSession(callCtx, checks, r)
	return s, refused, retry, g.b.end(ctx, callCtx, "refresh session", err)
}

// VerifyChallenge calls the store's VerifyChallenge; g.routes must not be
// nil.
func (g guardedStore) VerifyChallenge(ctx context.Context, r VerifyRoute) (VerifyOutcome, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	out, err := g.routes.VerifyChallenge(callCtx, r)
	return out, g.b.end(ctx, callCtx, "verify challenge", err)
}

func (g guardedStore) PutChallenge(ctx context.Context, c Challenge) error {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	return g.b.end(ctx, callCtx, "put challenge", g.s.PutChallenge(callCtx, c))
}

func (g guardedStore) GetChallenge(ctx context.Context, key string, now time.Time) (Challenge, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	c, err := g.s.GetChallenge(callCtx, key, now)
	return c, g.b.end(ctx, callCtx, "get challenge", err)
}

func (g guardedStore) AttemptChallenge(ctx context.Context, key, id string, now time.Time) (Challenge, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	c, err := g.s.AttemptChallenge(callCtx, key, id, now)
	return c, g.b.end(ctx, callCtx, "attempt challenge", err)
}

func (g guardedStore) DeleteChallenge(ctx context.Context, key, id string) error {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	return g.b.end(ctx, callCtx, "delete challenge", g.s.DeleteChallenge(callCtx, key, id))
}

func (g guardedStore) CreateSession(ctx context.Context, s Session) error {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	return g.b.end(ctx, callCtx, "create session", g.s.CreateSession(callCtx, s))
}

func (g guardedStore) GetSession(ctx context.Context, id string, now time.Time) (Session, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	s, err := g.s.GetSession(callCtx, id, now)
	return s, g.b.end(ctx, callCtx, "get session", err)
}

func (g guardedStore) RotateRefresh(ctx context.Context, r Rotation) (Session, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	s, err := g.s.RotateRefresh(callCtx, r)
	return s, g.b.end(ctx, callCtx, "rotate refresh", err)
}

func (g guardedStore) DeleteSession(ctx context.Context, id string) error {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	return g.b.end(ctx, callCtx, "delete session", g.s.DeleteSession(callCtx, id))
}

func (g guardedStore) RevokeOtherSessions(ctx context.Context, userID, keepID, phone string, now time.Time) error {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	return g.b.end(ctx, callCtx, "revoke other sessions", g.s.RevokeOtherSessions(callCtx, userID, keepID, phone, now))
}

func (g guardedStore) ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	list, err := g.s.ListSessions(callCtx, userID, now)
	return list, g.b.end(ctx, callCtx, "list sessions", err)
}

// guardedUsers is the Authenticator's Users.
type guardedUsers struct {
	u Users
	b *backend
}

func (g guardedUsers) UserByPhone(ctx context.Context, phone string) (User, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	u, err := g.u.UserByPhone(callCtx, phone)
	return u, g.b.end(ctx, callCtx, "user by phone", err)
}

func (g guardedUsers) CreateUser(ctx context.Context, phone string, metadata map[string]any) (User, bool, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	u, created, err := g.u.CreateUser(callCtx, phone, metadata)
	return u, created, g.b.end(ctx, callCtx, "create user", err)
}

func (g guardedUsers) SetPhone(ctx context.Context, userID, phone string) error {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	return g.b.end(ctx, callCtx, "set phone", g.u.SetPhone(callCtx, userID, phone))
}

// guardedLimiter is the Authenticator's Limiter. batch and refunder are
// the same limiter if it is a BatchLimiter or a BatchRefunder, else nil.
type guardedLimiter struct {
	l        Limiter
	batch    BatchLimiter
	refunder BatchRefunder
	b        *backend
}

func newGuardedLimiter(l Limiter, cfg *Config) guardedLimiter {
	batch, _ := l.(BatchLimiter)
	refunder, _ := l.(BatchRefunder)
	return guardedLimiter{l: l, batch: batch, refunder: refunder, b: newBackend("limiter", l, cfg)}
}

// RefundAll calls the limiter's RefundAll, or its Refund and Reset one
// key at a time if it has none, stopping at the first error.
func (g guardedLimiter) RefundAll(ctx context.Context, refunds []LimitCheck, resets []string, now time.Time) error {
	if g.refunder != nil {
		callCtx, cancel := g.b.start(ctx)
		defer cancel()
		return g.b.end(ctx, callCtx, "refund all", g.refunder.RefundAll(callCtx, refunds, resets, now))
	}
	return refundEach(ctx, g, refunds, resets, now)
}

func (g guardedLimiter) Allow(ctx context.Context, key string, l Limit, now time.Time) (bool, time.Duration, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	ok, retry, err := g.l.Allow(callCtx, key, l, now)
	return ok, retry, g.b.end(ctx, callCtx, "allow", err)
}

// AllowAll calls the limiter's AllowAll; g.batch must not be nil.
func (g guardedLimiter) AllowAll(ctx context.Context, checks []LimitCheck, now time.Time) (int, time.Duration, error) {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	refused, retry, err := g.batch.AllowAll(callCtx, checks, now)
	return refused, retry, g.b.end(ctx, callCtx, "allow all", err)
}

func (g guardedLimiter) Refund(ctx context.Context, key string, l Limit, now time.Time) error {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	return g.b.end(ctx, callCtx, "refund", g.l.Refund(callCtx, key, l, now))
}

func (g guardedLimiter) Reset(ctx context.Context, key string) error {
	callCtx, cancel := g.b.start(ctx)
	defer cancel()
	return g.b.end(ctx, callCtx, "reset", g.l.Reset(callCtx, key))
}
