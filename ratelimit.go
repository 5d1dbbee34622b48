package phoneauth

import (
	"context"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
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

// defaultLimiterKeys is the capacity of a MemoryLimiter made with
// NewMemoryLimiter(0).
const defaultLimiterKeys = 100_000

// limiterSweepEvery is how often a MemoryLimiter drops idle keys.
const limiterSweepEvery = time.Minute

// MemoryLimiter is the in-memory Limiter: one token bucket
// (golang.org/x/time/rate) per key and Limit, in a map of bounded size. It
// is safe for concurrent use and needs no Close. Its limits are those of
// one process: replicas of a server each count on their own, so use a
// shared Limiter (Redis, Postgres) with more than one.
//
// Time is the now passed to Allow, never the wall clock, so a ManualClock
// drives it.
//
// Memory: a key is idle once its buckets are full again (no event for Per);
// idle keys are dropped by a sweep that some Allow call runs at most once a
// minute (of the callers' clock), so there is no goroutine. The number of
// keys is also capped: when a new key finds its shard full, the shard is
// swept first (at most once per half a shard's worth of new keys, so the
// cost stays amortised O(1)) and, if that freed nothing, one key is evicted:
// of four sampled keys, the one whose bucket is fullest, that is, the one
// least likely to be limiting anything. Evicting a key that is still
// limiting resets its limit, so an attacker who can create keys faster than
// they go idle (many IPs, many device ids) can wear down others' limits:
// keep the cap above the number of keys a busy period creates within the
// longest Per. About 200 bytes per key: the default 100,000 keys take about
// 20 MB at most.
type MemoryLimiter struct {
	seed     maphash.Seed
	shards   []limiterShard
	perShard int // keys per shard

	// Sweeps are timed on the callers' clock, as offsets from the first
	// now seen, so that the hot path only reads two atomics.
	epoch     atomic.Pointer[time.Time]
	nextSweep atomic.Int64 // offset from epoch, in nanoseconds
}

type limiterShard struct {
	mu       sync.Mutex
	keys     map[string]*bucket
	inserted int      // new keys since the shard was last swept
	_        [40]byte // keep shards' locks on separate cache lines
}

// bucket is the token bucket of a key under one Limit; the buckets of a key
// used under several limits are chained.
type bucket struct {
	limit Limit
	lim   *rate.Limiter
	next  *bucket
}

// NewMemoryLimiter returns a MemoryLimiter holding at most maxKeys keys
// (maxKeys <= 0 means 100,000; see MemoryLimiter for what happens beyond).
func NewMemoryLimiter(maxKeys int) *MemoryLimiter {
	if maxKeys <= 0 {
		maxKeys = defaultLimiterKeys
	}
	// Shards so that parallel callers rarely wait for each other, as long as
	// each holds enough keys for the cap to mean something.
	n := 1
	for n < 32 && maxKeys/(2*n) >= 256 {
		n *= 2
	}
	m := &MemoryLimiter{seed: maphash.MakeSeed(), shards: make([]limiterShard, n), perShard: maxKeys / n}
	for i := range m.shards {
		m.shards[i].keys = make(map[string]*bucket)
	}
	return m
}

var errZeroLimit = errors.New("phoneauth: MemoryLimiter: zero Limit (no events, no period)")

// Allow implements Limiter. It records one event for key under l at now.
// A refusal consumes nothing, and retryAfter is the exact time until one
// event is allowed again (if no other is recorded meanwhile). An off Limit
// (see Limit.Off) allows everything and remembers nothing; a Limit of zero
// events per a positive Per refuses everything, with retryAfter Per. The
// only errors are ctx's and the zero Limit{}.
func (m *MemoryLimiter) Allow(ctx context.Context, key string, l Limit, now time.Time) (ok bool, retryAfter time.Duration, err error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	switch {
	case l.Off():
		return true, 0, nil
	case l.Events == 0 && l.Per > 0:
		return false, l.Per, nil
	case l.Events == 0:
		return false, 0, errZeroLimit
	}

	s := m.shard(key)
	s.mu.Lock()
	b := s.find(key, l)
	if b == nil {
		b = m.add(s, key, l, now)
	}
	ok, retryAfter = b.take(now)
	s.mu.Unlock()

	m.maybeSweep(now)
	return ok, retryAfter, nil
}

// Reset implements Limiter: it forgets key under every Limit.
func (m *MemoryLimiter) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := m.shard(key)
	s.mu.Lock()
	delete(s.keys, key)
	s.mu.Unlock()
	return nil
}

func (m *MemoryLimiter) shard(key string) *limiterShard {
	if len(m.shards) == 1 {
		return &m.shards[0]
	}
	return &m.shards[maphash.String(m.seed, key)&uint64(len(m.shards)-1)]
}

// find returns key's bucket for l, or nil. s.mu must be held.
func (s *limiterShard) find(key string, l Limit) *bucket {
	for b := s.keys[key]; b != nil; b = b.next {
		if b.limit == l {
			return b
		}
	}
	return nil
}

// add creates key's bucket for l, full, making room for a new key first if
// the shard is full. s.mu must be held.
func (m *MemoryLimiter) add(s *limiterShard, key string, l Limit, now time.Time) *bucket {
	b := &bucket{
		limit: l,
		lim:   rate.NewLimiter(rate.Limit(float64(l.Events)/l.Per.Seconds()), l.Events),
	}
	if head, ok := s.keys[key]; ok {
		b.next = head // a known key under another limit: no new key
	} else {
		if len(s.keys) >= m.perShard {
			s.makeRoom(now, m.perShard)
		}
		// Clone: the caller's key may share memory with a whole request.
		key = strings.Clone(key)
		s.inserted++
	}
	s.keys[key] = b
	return b
}

// makeRoom gets the shard below perShard keys: by a sweep of idle keys if
// enough keys were added since the last one, else by evicting one key.
// s.mu must be held.
func (s *limiterShard) makeRoom(now time.Time, perShard int) {
	if s.inserted >= perShard/2 {
		s.sweep(now)
	}
	for len(s.keys) >= perShard {
		s.evictOne(now)
	}
}

// evictOne drops, of a few sampled keys (map iteration starts at a random
// place), the one whose emptiest bucket is fullest. s.mu must be held.
func (s *limiterShard) evictOne(now time.Time) {
	const samples = 4
	var (
		victim string
		best   = -1.0
		seen   int
	)
	for k, head := range s.keys {
		f := 1.0
		for b := head; b != nil; b = b.next {
			f = min(f, b.fill(now))
		}
		if f > best {
			victim, best = k, f
		}
		if seen++; seen == samples {
			break
		}
	}
	delete(s.keys, victim)
}

// sweep drops the buckets that are full again, and keys left with none.
// s.mu must be held.
func (s *limiterShard) sweep(now time.Time) {
	for k, head := range s.keys {
		keep := head
		for p := &keep; *p != nil; {
			if (*p).idle(now) {
				*p = (*p).next
			} else {
				p = &(*p).next
			}
		}
		switch {
		case keep == nil:
			delete(s.keys, k)
		case keep != head:
			s.keys[k] = keep
		}
	}
	s.inserted = 0
}

// maybeSweep sweeps every shard if limiterSweepEvery has passed since the
// last sweep (or now went back by more than that). One caller does it; the
// others go on.
func (m *MemoryLimiter) maybeSweep(now time.Time) {
	epoch := m.epoch.Load()
	if epoch == nil {
		if m.epoch.CompareAndSwap(nil, &now) {
			m.nextSweep.Store(int64(limiterSweepEvery))
		}
		return
	}
	at := int64(now.Sub(*epoch))
	next := m.nextSweep.Load()
	if at < next && at > next-2*int64(limiterSweepEvery) {
		return
	}
	if !m.nextSweep.CompareAndSwap(next, at+int64(limiterSweepEvery)) {
		return // another caller sweeps
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.sweep(now)
		s.mu.Unlock()
	}
}

// take records one event at now if a token is there; otherwise it returns
// how long until one is.
func (b *bucket) take(now time.Time) (ok bool, retryAfter time.Duration) {
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	// Start from the limiter's own estimate, then settle on the first
	// nanosecond at which it allows an event: it counts tokens in floating
	// point and rounds waits down to the nanosecond, so the exact value can
	// be a nanosecond or two off.
	d := b.wait(now)
	for range 8 {
		switch {
		case b.wait(now.Add(d)) > 0:
			d++
		case d > 0 && b.wait(now.Add(d-1)) == 0:
			d--
		default:
			return false, d
		}
	}
	// Far from the estimate (only with absurd rates): be safely late.
	for step := time.Duration(1); b.wait(now.Add(d)) > 0 && step > 0; step *= 2 {
		d += step
	}
	return false, d
}

// wait returns how long after t the limiter would make an event wait, zero
// if it would allow it at t, computed as rate.Limiter.AllowN does.
func (b *bucket) wait(t time.Time) time.Duration {
	missing := 1 - b.lim.TokensAt(t)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(b.lim.Limit()) * float64(time.Second))
}

// fill is how full the bucket is at now, 0 to 1.
func (b *bucket) fill(now time.Time) float64 {
	return b.lim.TokensAt(now) / float64(b.limit.Events)
}

// idle reports whether the bucket is full again: forgetting it changes
// nothing.
func (b *bucket) idle(now time.Time) bool {
	return b.lim.TokensAt(now) >= float64(b.limit.Events)
}

// len returns the number of keys held.
func (m *MemoryLimiter) len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.keys)
		s.mu.Unlock()
	}
	return n
}
