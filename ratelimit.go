package phoneauth

import (
	"context"
	"time"
)

// A Limit allows Events events per period Per, as a token bucket of Events
// tokens refilled evenly over Per: a burst of Events, then one every
// Per/Events. The zero Limit means "use the default" in a Config; a Limit
// with Events < 0 (see Unlimited) is off.
type Limit struct {
	Events int
	Per    time.Duration
}

// Unlimited is a Limit that never refuses. Use it in a Config to turn a
// default limit off.
var Unlimited = Limit{Events: -1}

// Off reports whether l refuses nothing.
func (l Limit) Off() bool { return l.Events < 0 || (l.Events > 0 && l.Per <= 0) }

// or returns l, or def when l is the zero Limit.
func (l Limit) or(def Limit) Limit {
	if l == (Limit{}) {
		return def
	}
	return l
}

// A Limiter counts events per key against limits. Implementations must be
// safe for concurrent use; a shared one (Redis, Postgres) makes all
// replicas of a server share their limits.
type Limiter interface {
	// Allow records one event for key under limit l and reports whether it
	// was allowed. When it is not, nothing is recorded and retryAfter says
	// when one event will be allowed again. now is the caller's clock; an
	// implementation may use it or its own notion of time consistently. An
	// error means the limiter could not decide (the Authenticator then fails
	// closed with ErrStoreUnavailable).
	Allow(ctx context.Context, key string, l Limit, now time.Time) (ok bool, retryAfter time.Duration, err error)

	// Reset forgets the events recorded for key, as if it had never been
	// seen. Resetting an unknown key is not an error.
	Reset(ctx context.Context, key string) error
}
