package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/phoneauth/phoneauth"
)

// Limiter is a phoneauth.Limiter in a Store's SQLite file, shared by every
// Store and process using the file. Get it from Store.Limiter. Each key is
// a GCRA bucket (the generic cell rate algorithm, a token bucket kept as a
// single timestamp) in one row of limiter_buckets, whatever the Limit it is
// used with. Time is the now the caller passes.
//
// Limiter is also a phoneauth.BatchLimiter: AllowAll decides all the limits
// of a request, all or nothing, in one write, so that a code request takes
// the write lock once for its limits. Allow is AllowAll of one check.
//
// It is safe for concurrent use.
type Limiter struct {
	s *Store
}

// errZeroLimit is the error for the zero Limit.
var errZeroLimit = errors.New("sqlitestore: limiter: the zero Limit{} has no events and no period")

// Allow records one event for key under l at now and reports whether it
// was allowed; when it was not, nothing is recorded and retryAfter says
// when the next event will be. A Limit that is off (see phoneauth.Limit.Off)
// allows everything without touching the file; a Limit of zero events
// refuses everything, with retryAfter l.Per. It implements
// phoneauth.Limiter.
func (lim *Limiter) Allow(ctx context.Context, key string, l phoneauth.Limit, now time.Time) (ok bool, retryAfter time.Duration, err error) {
	refused, retryAfter, err := lim.AllowAll(ctx, []phoneauth.LimitCheck{{Key: key, Limit: l}}, now)
	return refused < 0 && err == nil, retryAfter, err
}

// A gcraCheck is a check of AllowAll in GCRA terms, in nanoseconds.
type gcraCheck struct {
	index    int // in the caller's checks
	key      string
	interval int64 // one event's share of the period
	per      int64
}

// fits returns when the check would allow an event on a bucket at tat: it
// does now if the result is not after now.
func (c gcraCheck) fits(tat, now int64) int64 { return max(tat, now) + c.interval - c.per }

// AllowAll records one event for every check at now if each allows it, and
// nothing otherwise, in one write (under the write lock from its first
// read). It
// returns the index of the first check that refused (-1 if none) and when
// that check will allow an event again. It implements
// phoneauth.BatchLimiter.
//
// Limits are handled as in Allow, before asking the file: Off checks allow
// and are left out; a check of zero events refuses the batch with
// retryAfter its Per (the first such check, even if an earlier one would
// have refused), and the zero Limit{} is an error. A key named by several
// checks is decided, for each, on its bucket as it was before the batch;
// when the batch is allowed each of those checks records its event only if
// it still fits, so no bucket goes over its limit.
func (lim *Limiter) AllowAll(ctx context.Context, checks []phoneauth.LimitCheck, now time.Time) (refused int, retryAfter time.Duration, err error) {
	gs := make([]gcraCheck, 0, len(checks))
	keys := make([]string, 0, len(checks))
	seen := make(map[string]bool, len(checks))
	for i, c := range checks {
		switch {
		case c.Limit.Off():
			continue
		case c.Limit.Events == 0 && c.Limit.Per > 0:
			return i, c.Limit.Per, nil
		case c.Limit.Events == 0:
			return -1, 0, errZeroLimit
		}
		p := min(c.Limit.Per, maxPeriod)
		gs = append(gs, gcraCheck{index: i, key: c.Key, interval: int64(max(p/time.Duration(c.Limit.Events), 1)), per: int64(p)})
		if !seen[c.Key] {
			seen[c.Key] = true
			keys = append(keys, c.Key)
		}
	}
	if len(gs) == 0 {
		return -1, 0, nil
	}
	nowNS := now.UnixNano()
	refused = -1
	err = lim.s.write(ctx, "limiter", func(t tx) error {
		tats := make(map[string]int64, len(keys)) // missing: a new bucket, full as tat 0 is
		for _, k := range keys {
			var tat int64
			switch err := t.row(bucketSQL, k).Scan(&tat); {
			case err == nil:
				tats[k] = tat
			case !errors.Is(err, sql.ErrNoRows):
				return unavailable("limiter", err)
			}
		}
		for _, g := range gs {
			if fits := g.fits(tats[g.key], nowNS); fits > nowNS {
				refused, retryAfter = g.index, time.Duration(fits-nowNS)
				return nil // nothing written
			}
		}
		for _, g := range gs {
			if base := max(tats[g.key], nowNS); g.fits(base, nowNS) <= nowNS {
				tats[g.key] = base + g.interval
			}
		}
		for _, k := range keys {
			if _, err := t.exec(setBucketSQL, k, tats[k]); err != nil {
				return unavailable("limiter", err)
			}
		}
		return nil
	})
	if err != nil {
		return -1, 0, err
	}
	return refused, retryAfter, nil
}

// Refund gives back one event of key's bucket under l, in one UPDATE: its
// tat moves back one emission interval, not before now. A bucket that is
// full or missing, an Off limit and a limit of no events have nothing to
// give back. It implements phoneauth.Limiter, as RefundAll of one check.
func (lim *Limiter) Refund(ctx context.Context, key string, l phoneauth.Limit, now time.Time) error {
	return lim.RefundAll(ctx, []phoneauth.LimitCheck{{Key: key, Limit: l}}, nil, now)
}

// RefundAll does Refund for every check of refunds and Reset for every key
// of resets, in one write. It implements phoneauth.BatchRefunder.
func (lim *Limiter) RefundAll(ctx context.Context, refunds []phoneauth.LimitCheck, resets []string, now time.Time) error {
	live := refunds[:0:0]
	for _, c := range refunds {
		if !c.Limit.Off() && c.Limit.Events > 0 {
			live = append(live, c)
		}
	}
	if len(live) == 0 && len(resets) == 0 {
		return nil
	}
	return lim.s.write(ctx, "limiter refund", func(t tx) error {
		for _, c := range live {
			interval := int64(max(min(c.Limit.Per, maxPeriod)/time.Duration(c.Limit.Events), 1))
			if _, err := t.exec(refundBucketSQL, interval, now.UnixNano(), c.Key); err != nil {
				return unavailable("limiter refund", err)
			}
		}
		for _, key := range resets {
			if _, err := t.exec(resetBucketSQL, key); err != nil {
				return unavailable("limiter reset", err)
			}
		}
		return nil
	})
}

// Reset forgets key's bucket. It implements phoneauth.Limiter, as
// RefundAll of one reset.
func (lim *Limiter) Reset(ctx context.Context, key string) error {
	return lim.RefundAll(ctx, nil, []string{key}, time.Time{})
}

// maxPeriod caps a Limit's period, so that tat stays within int64.
const maxPeriod = 100 * 365 * 24 * time.Hour
