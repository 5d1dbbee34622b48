package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoneauth/phoneauth"
)

// Limiter is a phoneauth.Limiter on PostgreSQL, shared by every replica that
// uses the same database and schema. Get it from Store.Limiter. Each key is
// a GCRA bucket (the generic cell rate algorithm, a token bucket kept as a
// single timestamp) in one row of limiter_buckets; Allow is one upsert.
//
// Limiter is also a phoneauth.BatchLimiter: AllowAll decides all the limits
// of a request, all or nothing, in one statement (a call of the function
// limiter_allow_all that Migrate creates), so that a code request costs one
// statement for its limits instead of one per limit.
//
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
	interval, per := gcra(l)
	nowNS := now.UnixNano()
	var tat int64
	if err := lim.pool.QueryRow(ctx, lim.q.allow, key, nowNS, interval, per).Scan(&tat, &ok); err != nil {
		return false, 0, unavailable("limiter allow", err)
	}
	if ok {
		return true, 0, nil
	}
	// Refused: the next event fits when tat + interval - per reaches now.
	return false, time.Duration(tat + interval - per - nowNS), nil
}

// AllowAll records one event for every check at now if each allows it, and
// nothing otherwise. It returns the index of the first check that refused
// (-1 if none) and when that check will allow an event again. It implements
// phoneauth.BatchLimiter in one statement: the buckets of the batch are
// locked in key order (so that concurrent batches sharing keys queue
// instead of deadlocking, and never both take a bucket's last event), then
// every check is decided, then the events are recorded; a refused batch
// leaves every bucket as it was.
//
// Limits are handled as in Allow, before asking the database: Off checks
// allow and are left out; a check of zero events refuses the batch with
// retryAfter its Per (the first such check, even if an earlier one would
// have refused), and the zero Limit{} is an error. With no other check the
// database is not asked at all.
//
// A key is one bucket whatever the Limit, as in Allow. A key named by
// several checks is decided, for each, on its bucket as it was before the
// batch; when the batch is allowed each of those checks records its event
// only if it still fits, so no bucket goes over its limit, but the key may
// get fewer events than checks. This is what phoneauth.MemoryLimiter does
// for a repeated key and Limit; the checks of a request name distinct keys.
func (lim *Limiter) AllowAll(ctx context.Context, checks []phoneauth.LimitCheck, now time.Time) (refused int, retryAfter time.Duration, err error) {
	b, refused, retryAfter, err := newBatch(checks)
	if err != nil || refused >= 0 || len(b.keys) == 0 {
		return refused, retryAfter, err
	}
	return b.result(lim.pool.QueryRow(ctx, lim.q.allowAll, b.keys, b.intervals, b.periods, now.UnixNano()))
}

// A batch is a list of checks as limiter_allow_all takes them.
type batch struct {
	keys               []string
	intervals, periods []int64
	index              []int // of each key, in the checks
}

// newBatch returns the batch of checks. Off checks are left out; a check
// of zero events is a refusal (refused >= 0) without asking the database,
// and the zero Limit{} an error.
func newBatch(checks []phoneauth.LimitCheck) (b batch, refused int, retryAfter time.Duration, err error) {
	n := len(checks)
	b = batch{make([]string, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int, 0, n)}
	for i, c := range checks {
		switch {
		case c.Limit.Off():
			continue
		case c.Limit.Events == 0 && c.Limit.Per > 0:
			return batch{}, i, c.Limit.Per, nil
		case c.Limit.Events == 0:
			return batch{}, -1, 0, errZeroLimit
		}
		interval, per := gcra(c.Limit)
		b.keys, b.intervals, b.periods = append(b.keys, c.Key), append(b.intervals, interval), append(b.periods, per)
		b.index = append(b.index, i)
	}
	return b, -1, 0, nil
}

// result reads limiter_allow_all's answer to the batch: the check that
// refused (-1 if none) and its retry.
func (b batch) result(row pgx.Row) (refused int, retryAfter time.Duration, err error) {
	var pos int32 // of the refusing check in keys, from 1; 0 if none
	var retry int64
	if err := row.Scan(&pos, &retry); err != nil {
		return -1, 0, unavailable("limiter allow all", err)
	}
	return b.decide(pos, retry)
}

// decide turns limiter_allow_all's answer (pos from 1, 0 if none refused)
// into the check that refused, in the batch's checks, and its retry.
func (b batch) decide(pos int32, retry int64) (refused int, retryAfter time.Duration, err error) {
	switch {
	case pos == 0:
		return -1, 0, nil
	case pos < 0 || int(pos) > len(b.index) || retry <= 0:
		return -1, 0, unavailable("limiter allow all", fmt.Errorf("unexpected result: check %d, retry after %dns", pos, retry))
	}
	return b.index[pos-1], time.Duration(retry), nil
}

// Refund gives back one event of key's bucket under l: its tat moves back
// one emission interval, not before now. A bucket that is full or missing,
// an Off limit and a limit of no events have nothing to give back. It
// implements phoneauth.Limiter, as RefundAll of one check.
func (lim *Limiter) Refund(ctx context.Context, key string, l phoneauth.Limit, now time.Time) error {
	return lim.RefundAll(ctx, []phoneauth.LimitCheck{{Key: key, Limit: l}}, nil, now)
}

// RefundAll does Refund for every check of refunds and Reset for every key
// of resets, in one statement. It implements phoneauth.BatchRefunder.
func (lim *Limiter) RefundAll(ctx context.Context, refunds []phoneauth.LimitCheck, resets []string, now time.Time) error {
	keys, steps := make([]string, 0, len(refunds)), make([]int64, 0, len(refunds))
	for _, c := range refunds {
		if c.Limit.Off() || c.Limit.Events <= 0 {
			continue
		}
		interval, _ := gcra(c.Limit)
		keys, steps = append(keys, c.Key), append(steps, interval)
	}
	return lim.refund(ctx, keys, steps, resets, now)
}

// refund gives back one event of each bucket of keys, its tat moving back
// by its step (its emission interval), and forgets the buckets of resets,
// in one statement.
func (lim *Limiter) refund(ctx context.Context, keys []string, steps []int64, resets []string, now time.Time) error {
	if len(keys) == 0 && len(resets) == 0 {
		return nil
	}
	if resets == nil {
		resets = []string{}
	}
	if _, err := lim.pool.Exec(ctx, lim.q.refund, keys, now.UnixNano(), steps, resets); err != nil {
		return unavailable("limiter refund", err)
	}
	return nil
}

// Reset forgets key's bucket. It implements phoneauth.Limiter.
func (lim *Limiter) Reset(ctx context.Context, key string) error {
	if _, err := lim.pool.Exec(ctx, lim.q.reset, key); err != nil {
		return unavailable("limiter reset", err)
	}
	return nil
}

// maxPeriod caps a Limit's period, so that tat stays within int64.
const maxPeriod = 100 * 365 * 24 * time.Hour

// gcra returns the GCRA parameters of l (Events > 0) in nanoseconds: its
// emission interval, one event's share of the period, and the period,
// capped at maxPeriod.
func gcra(l phoneauth.Limit) (interval, per int64) {
	p := min(l.Per, maxPeriod)
	return int64(max(p/time.Duration(l.Events), 1)), int64(p)
}
