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
// Keys: {P:l:KEY}, with P the prefix; each key is its own hash slot.
type Limiter struct {
	rdb  redis.UniversalClient
	keys keys
}

var _ phoneauth.Limiter = (*Limiter)(nil)

// NewLimiter returns a Limiter that keeps its counts through client. Only
// opts.Prefix is used; a Store and a Limiter may share a prefix.
func NewLimiter(client redis.UniversalClient, opts Options) *Limiter {
	opts = opts.withDefaults()
	return &Limiter{rdb: client, keys: keys{opts.Prefix}}
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
	interval := limit.Per.Microseconds() / int64(limit.Events)
	if interval < 1 {
		interval = 1
	}
	res, err := allow.Run(ctx, l.rdb, []string{l.keys.limit(key)},
		now.UnixMicro(), interval, interval*int64(limit.Events), ttlMargin.Milliseconds(),
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

// Reset implements phoneauth.Limiter: one DEL.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := l.rdb.Del(ctx, l.keys.limit(key)).Err(); err != nil {
		return unavailable("limiter reset", err)
	}
	return nil
}
