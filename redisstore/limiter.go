package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/redis/go-redis/v9"
)

// Limiter is a phoneauth.Limiter kept in Redis, so that all replicas of a
// server share their limits. It runs GCRA (the generic cell rate
// algorithm), which behaves exactly like a token bucket of l.Events tokens
// refilled evenly over l.Per, in one script per event: one round trip, and
// one key per limited key (the theoretical arrival time of its next event,
// in unix microseconds of the caller's clock) that expires as soon as the
// bucket would be full again. Create it with NewLimiter.
//
// Limiter is also a phoneauth.BatchLimiter: AllowAll decides all the
// limits of a request in one script, one round trip.
//
// Keys: {P:l}:KEY, with P the prefix. All limiter keys share one hash slot,
// so that AllowAll's script may touch several: on Redis Cluster the
// limiter lives on one node (a few small scripts per code request), while
// challenges and sessions spread over the cluster.
type Limiter struct {
	rdb  redis.UniversalClient
	keys keys
}

var (
	_ phoneauth.BatchLimiter  = (*Limiter)(nil)
	_ phoneauth.BatchRefunder = (*Limiter)(nil)
)

// NewLimiter returns a Limiter that keeps its counts through client. Only
// opts.Prefix is used; a Store and a Limiter may share a prefix. With a nil
// client every call fails with an error that says so.
func NewLimiter(client redis.UniversalClient, opts Options) *Limiter {
	opts = opts.withDefaults()
	return &Limiter{rdb: orNilClient(client), keys: keys{opts.Prefix}}
}

// Allow implements phoneauth.Limiter. An Off limit allows everything
// without asking Redis; a limit of no events (Events == 0) refuses
// everything without asking Redis, with retryAfter l.Per.
func (l *Limiter) Allow(ctx context.Context, key string, limit phoneauth.Limit, now time.Time) (bool, time.Duration, error) {
	if limit.Off() {
		return true, 0, nil
	}
	if limit.Events <= 0 {
		return false, max(limit.Per, 0), nil
	}
	interval, burst := gcra(limit)
	res, err := allow.Run(ctx, l.rdb, []string{l.keys.limit(key)},
		now.UnixMicro(), interval, burst, ttlMargin.Milliseconds(),
	).Int64Slice()
	if err != nil {
		return false, 0, unavailable("limiter allow", err)
	}
	if len(res) != 2 {
		return false, 0, unavailable("limiter allow", fmt.Errorf("unexpected reply %v", res))
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, time.Duration(res[1]) * time.Microsecond, nil
}

// Refund implements phoneauth.Limiter in one script: key's theoretical
// arrival time moves back one emission interval of limit, not before now.
// Off limits and limits of no events have nothing to give back.
func (l *Limiter) Refund(ctx context.Context, key string, limit phoneauth.Limit, now time.Time) error {
	return l.RefundAll(ctx, []phoneauth.LimitCheck{{Key: key, Limit: limit}}, nil, now)
}

// RefundAll implements phoneauth.BatchRefunder in one script: Refund of
// every check of refunds, Reset of every key of resets.
func (l *Limiter) RefundAll(ctx context.Context, refunds []phoneauth.LimitCheck, resets []string, now time.Time) error {
	keys := make([]string, 0, len(refunds)+len(resets))
	args := make([]any, 3, 3+len(refunds))
	for _, c := range refunds {
		if c.Limit.Off() || c.Limit.Events <= 0 {
			continue
		}
		interval, _ := gcra(c.Limit)
		keys, args = append(keys, l.keys.limit(c.Key)), append(args, interval)
	}
	args[0], args[1], args[2] = now.UnixMicro(), ttlMargin.Milliseconds(), len(keys)
	for _, key := range resets {
		keys = append(keys, l.keys.limit(key))
	}
	if len(keys) == 0 {
		return nil
	}
	if err := refundAll.Run(ctx, l.rdb, keys, args...).Err(); err != nil {
		return unavailable("limiter refund", err)
	}
	return nil
}

// Reset implements phoneauth.Limiter: one DEL.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := l.rdb.Del(ctx, l.keys.limit(key)).Err(); err != nil {
		return unavailable("limiter reset", err)
	}
	return nil
}

// AllowAll implements phoneauth.BatchLimiter in one script: an event on
// every key, or on none. Off limits are left out of the script; a limit of
// no events refuses without asking Redis.
func (l *Limiter) AllowAll(ctx context.Context, checks []phoneauth.LimitCheck, now time.Time) (int, time.Duration, error) {
	b, refused, retry := newBatch(l.keys, checks)
	if refused >= 0 || len(b.keys) == 0 {
		return refused, retry, nil
	}
	res, err := allowAll.Run(ctx, l.rdb, b.keys, append([]any{now.UnixMicro(), ttlMargin.Milliseconds()}, b.args...)...).Int64Slice()
	if err != nil {
		return -1, 0, unavailable("limiter allow all", err)
	}
	return b.result(res)
}

// A batch is a list of checks as allow_all (scripts.go) takes them.
type batch struct {
	keys  []string
	args  []any // each key's emission interval and burst
	index []int // of each key, in the checks
}

// newBatch returns the batch of checks. Off checks are left out; a check
// of no events is a refusal (refused >= 0) without asking Redis.
func newBatch(k keys, checks []phoneauth.LimitCheck) (b batch, refused int, retryAfter time.Duration) {
	b = batch{make([]string, 0, len(checks)), make([]any, 0, 2*len(checks)), make([]int, 0, len(checks))}
	for i, c := range checks {
		switch {
		case c.Limit.Off():
			continue
		case c.Limit.Events <= 0:
			return batch{}, i, max(c.Limit.Per, 0)
		}
		interval, burst := gcra(c.Limit)
		b.keys, b.index = append(b.keys, k.limit(c.Key)), append(b.index, i)
		b.args = append(b.args, interval, burst)
	}
	return b, -1, 0
}

// result reads allow_all's answer {0, 0} or {key from 1, µs to wait} as
// the check that refused (-1 if none) and its retry.
func (b batch) result(res []int64) (int, time.Duration, error) {
	if len(res) != 2 || res[0] < 0 || res[0] > int64(len(b.keys)) {
		return -1, 0, unavailable("limiter allow all", fmt.Errorf("unexpected reply %v", res))
	}
	if res[0] == 0 {
		return -1, 0, nil
	}
	return b.index[res[0]-1], time.Duration(res[1]) * time.Microsecond, nil
}

// gcra returns a limit's emission interval and burst in microseconds.
func gcra(limit phoneauth.Limit) (interval, burst int64) {
	interval = max(limit.Per.Microseconds()/int64(limit.Events), 1)
	return interval, interval * int64(limit.Events)
}
