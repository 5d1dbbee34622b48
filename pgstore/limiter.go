package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoneauth/phoneauth"
)

// Limiter is a phoneauth.Limiter on PostgreSQL, shared by every replica that
// uses the same database and schema. Get it from Store.Limiter. Each key is
// a GCRA bucket (the generic cell rate algorithm, a token bucket kept as a
// single timestamp) in one row of limiter_buckets; Allow is one upsert.
// It is safe for concurrent use.
type Limiter struct {
	pool *pgxpool.Pool
	q    *queries
}

// errZeroLimit is Allow's error for the zero Limit.
var errZeroLimit = errors.New("pgstore: limiter: the zero Limit{} has no events and no period")

// Allow records one event for key under l at now and reports whether it
// was allowed; when it was not, nothing is recorded and retryAfter says
// when the next event will be. A Limit that is off (see phoneauth.Limit.Off)
// allows everything without touching the database; a Limit of zero events
// refuses everything, with retryAfter l.Per. It implements
// phoneauth.Limiter.
func (lim *Limiter) Allow(ctx context.Context, key string, l phoneauth.Limit, now time.Time) (ok bool, retryAfter time.Duration, err error) {
	switch {
	case l.Off():
		return true, 0, nil
	case l.Events == 0 && l.Per > 0:
		return false, l.Per, nil
	case l.Events == 0:
		return false, 0, errZeroLimit
	}
	per := l.Per
	if limit := 100 * 365 * 24 * time.Hour; per > limit { // keeps tat within int64
		per = limit
	}
	interval := max(per/time.Duration(l.Events), 1)
	nowNS := now.UnixNano()
	var tat int64
	if err := lim.pool.QueryRow(ctx, lim.q.allow, key, nowNS, int64(interval), int64(per)).Scan(&tat, &ok); err != nil {
		return false, 0, unavailable("limiter allow", err)
	}
	if ok {
		return true, 0, nil
	}
	// Refused: the next event fits when tat + interval - per reaches now.
	return false, time.Duration(tat + int64(interval) - int64(per) - nowNS), nil
}

// Reset forgets key's bucket. It implements phoneauth.Limiter.
func (lim *Limiter) Reset(ctx context.Context, key string) error {
	if _, err := lim.pool.Exec(ctx, lim.q.reset, key); err != nil {
		return unavailable("limiter reset", err)
	}
	return nil
}
