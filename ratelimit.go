package phoneauth

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"slices"
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

// valid reports whether l is a usable Limit of a Config: Events > 0 and
// Per > 0, or off by negative Events (the zero Limit is not, once the
// defaults are filled in).
func (l Limit) valid() bool { return l.Events < 0 || (l.Events > 0 && l.Per > 0) }

// or returns l, or def when l is the zero Limit.
func (l Limit) or(def Limit) Limit {
	if l == (Limit{}) {
		return def
	}
	return l
}

// A Limiter counts events per key against limits. Implementations must be
// safe for concurrent use; a shared one (Redis, Postgres, SQLite) makes all
// replicas of a server share their limits. The Authenticator's keys are
// valid UTF-8 without NUL bytes, at most a few hundred bytes long (a
// client-chosen part longer than 64 bytes, or not text, is hashed).
//
// A Limit is a token bucket per key: a burst of Events, then one event
// every Per/Events. The Authenticator uses each key with one Limit only
// (the key's prefix names the limit); whether a key used with two Limits
// has one bucket or one per Limit is up to the implementation
// (MemoryLimiter keeps one per key and Limit; redisstore and pgstore one per
// key). A Limit that is Off allows every event and records nothing; a
// Limit of zero Events with a positive Per refuses every event, with
// retryAfter Per; the zero Limit{} is an error.
type Limiter interface {
	// Allow records one event for key under limit l and reports whether it
	// was allowed. When it is not, nothing is recorded and retryAfter says
	// when one event will be allowed again: it is in (0, l.Per], and exact
	// to the implementation's time resolution (a millisecond at worst), so
	// that, if no other event is recorded on key meanwhile, an event is
	// refused before it has passed and allowed once it has. now is the
	// caller's clock; an implementation may use it or its own notion of
	// time consistently. An error means the limiter could not decide (the
	// Authenticator then fails closed with ErrStoreUnavailable).
	Allow(ctx context.Context, key string, l Limit, now time.Time) (ok bool, retryAfter time.Duration, err error)

	// Refund gives back one event recorded for key under limit l, as if it
	// had not happened: the bucket gets one event's room back, never more
	// than a full bucket (GCRA: the theoretical arrival time moves back one
	// emission interval, not before now). Refunding a key with nothing
	// recorded, or under an Off limit, changes nothing and is not an error.
	// now is as in Allow. An event refunded is any event of the key, not
	// one in particular: counts are all a limiter keeps.
	//
	// The Authenticator calls it for the events of a request it answers
	// with an error after they were recorded (the store write or the send
	// failed), so that a failed request starts no cooldown and costs no
	// limit. It is one method on Limiter rather than an optional interface
	// so that no limiter silently breaks that promise, and it takes one key
	// like Allow: refunds happen only on failures, off the request's path.
	Refund(ctx context.Context, key string, l Limit, now time.Time) error

	// Reset forgets the events recorded for key, under every Limit, as if
	// it had never been seen. Resetting an unknown key is not an error.
	Reset(ctx context.Context, key string) error
}

// A LimitCheck is one limit on one key, for BatchLimiter.AllowAll.
type LimitCheck struct {
	Key   string
	Limit Limit
}

// A BatchLimiter is a Limiter that decides several limits in one call, all
// or nothing. A shared limiter implements it to spend one round trip on all
// the limits of a request instead of one each; the Authenticator uses it
// when its Limiter has it.
type BatchLimiter interface {
	Limiter
	// AllowAll records one event for every check if every check allows
	// it, and nothing at all otherwise. It returns the index of the first
	// check that refused (-1 if none) and when that check will allow an
	// event again. Checks whose Limit is Off always allow. now is as in
	// Allow.
	AllowAll(ctx context.Context, checks []LimitCheck, now time.Time) (refused int, retryAfter time.Duration, err error)
}

// A BatchRefunder is a Limiter that gives back events and forgets keys,
// several at once, in one call. A shared limiter implements it so that a
// successful verification, which resets the phone's failed-verify budget
// and gives the conversion guard its events back (see
// Limits.UnverifiedPerRange), costs one round trip; for a Limiter without
// it the Authenticator calls Refund and Reset, one call each.
type BatchRefunder interface {
	Limiter
	// RefundAll does Refund(ctx, c.Key, c.Limit, now) for every check c of
	// refunds and Reset(ctx, key) for every key of resets. The keys of
	// the two lists are distinct.
	RefundAll(ctx context.Context, refunds []LimitCheck, resets []string, now time.Time) error
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
// Memory: a key is idle once Per has passed since its last allowed event:
// its bucket is full again and forgetting it changes nothing. Once a
// minute (of the callers' clock) a sweep drops idle keys; it runs one shard
// (a 32nd of the keys) per Allow call, so there is no goroutine and no
// caller pays for a whole sweep. The number of keys is also capped: when a
// new key finds its shard full, the shard is swept first (at most once per
// half a shard's worth of new keys, so the cost stays amortised O(1)) and,
// if that freed nothing, one key is evicted: of four sampled keys, the one
// whose bucket is fullest, that is, the one least likely to be limiting
// anything. Evicting a key that is still limiting resets its limit, so an
// attacker who can create keys faster than they go idle (many IPs, many
// device ids) can wear down others' limits: keep the cap above the number
// of keys a busy period creates within the longest Per. A key takes about
// 200 bytes: the default 100,000 keys, about 20 MB.
type MemoryLimiter struct {
	maxKeys int
	once    sync.Once // sets up the fields below, so that the zero value works

	seed     maphash.Seed
	shards   []limiterShard
	perShard int // keys per shard

	// Time on the callers' clock, as nanoseconds since the first now seen
	// (saturating), so that it fits in atomics and buckets.
	epoch     atomic.Pointer[time.Time]
	nextSweep atomic.Int64 // when the next sweep is due
	unswept   atomic.Int32 // shards left to sweep in this sweep
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
	limit  Limit
	lim    *rate.Limiter
	idleAt int64 // when Per will have passed since the last allowed event
	next   *bucket
}

// NewMemoryLimiter returns a MemoryLimiter holding at most maxKeys keys
// (maxKeys <= 0 means 100,000; see MemoryLimiter for what happens beyond).
// The zero MemoryLimiter is one with the default cap.
func NewMemoryLimiter(maxKeys int) *MemoryLimiter {
	m := &MemoryLimiter{maxKeys: maxKeys}
	m.once.Do(m.init)
	return m
}

func (m *MemoryLimiter) init() {
	maxKeys := m.maxKeys
	if maxKeys <= 0 {
		maxKeys = defaultLimiterKeys
	}
	// Shards so that parallel callers rarely wait for each other, as long as
	// each holds enough keys for the cap to mean something.
	n := 1
	for n < 32 && maxKeys/(2*n) >= 256 {
		n *= 2
	}
	m.seed = maphash.MakeSeed()
	m.shards = make([]limiterShard, n)
	m.perShard = maxKeys / n
	for i := range m.shards {
		m.shards[i].keys = make(map[string]*bucket)
	}
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
	m.once.Do(m.init)
	at := m.since(now)

	s := m.shard(key)
	s.mu.Lock()
	b := s.find(key, l)
	if b == nil {
		b = m.add(s, key, l, now, at)
	}
	ok, retryAfter = b.take(now)
	if ok {
		b.idleAt = max(b.idleAt, addSat(at, int64(l.Per)))
	}
	s.mu.Unlock()

	m.sweepSome(at)
	return ok, retryAfter, nil
}

// AllowAll implements BatchLimiter: it records one event for every check
// if all of them allow it, and nothing otherwise, holding the locks of all
// the keys involved while it decides. Limits are handled as in Allow;
// the checks should name distinct key and Limit pairs.
func (m *MemoryLimiter) AllowAll(ctx context.Context, checks []LimitCheck, now time.Time) (refused int, retryAfter time.Duration, err error) {
	if err := ctx.Err(); err != nil {
		return -1, 0, err
	}
	for i, c := range checks {
		switch {
		case c.Limit.Off():
		case c.Limit.Events == 0 && c.Limit.Per > 0:
			return i, c.Limit.Per, nil
		case c.Limit.Events == 0:
			return -1, 0, errZeroLimit
		}
	}
	m.once.Do(m.init)
	at := m.since(now)

	// Lock the shards in index order, each once, so that concurrent
	// batches cannot deadlock.
	locked := make([]int, 0, len(checks))
	for _, c := range checks {
		if !c.Limit.Off() {
			locked = append(locked, m.shardIndex(c.Key))
		}
	}
	slices.Sort(locked)
	locked = slices.Compact(locked)
	for _, i := range locked {
		m.shards[i].mu.Lock()
	}
	buckets := make([]*bucket, len(checks))
	refused = -1
	for i, c := range checks {
		if c.Limit.Off() {
			continue
		}
		s := m.shard(c.Key)
		b := s.find(c.Key, c.Limit)
		if b == nil {
			b = m.add(s, c.Key, c.Limit, now, at)
		}
		buckets[i] = b
		if b.wait(now) > 0 { // as AllowN decides, not TokensAt(now) < 1
			_, retryAfter = b.take(now) // refuses, consuming nothing
			refused = i
			break
		}
	}
	if refused < 0 {
		for i, b := range buckets {
			if b != nil && b.lim.AllowN(now, 1) {
				b.idleAt = max(b.idleAt, addSat(at, int64(checks[i].Limit.Per)))
			}
		}
	}
	for _, i := range locked {
		m.shards[i].mu.Unlock()
	}
	m.sweepSome(at)
	return refused, retryAfter, nil
}

// Refund implements Limiter: key's bucket for l gets one token back, up to
// full. A key it does not hold (never seen, swept as idle, evicted) is
// full already. The only error is ctx's.
func (m *MemoryLimiter) Refund(ctx context.Context, key string, l Limit, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.Off() || l.Events <= 0 {
		return nil
	}
	m.once.Do(m.init)
	s := m.shard(key)
	s.mu.Lock()
	if b := s.find(key, l); b != nil {
		b.refund(now)
	}
	s.mu.Unlock()
	return nil
}

// Reset implements Limiter: it forgets key under every Limit.
func (m *MemoryLimiter) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.once.Do(m.init)
	s := m.shard(key)
	s.mu.Lock()
	delete(s.keys, key)
	s.mu.Unlock()
	return nil
}

// RefundAll implements BatchRefunder with Refund and Reset.
func (m *MemoryLimiter) RefundAll(ctx context.Context, refunds []LimitCheck, resets []string, now time.Time) error {
	return refundEach(ctx, m, refunds, resets, now)
}

// refundEach does what BatchRefunder.RefundAll does with l's Refund and
// Reset, one key at a time, stopping at the first error.
func refundEach(ctx context.Context, l Limiter, refunds []LimitCheck, resets []string, now time.Time) error {
	for _, c := range refunds {
		if err := l.Refund(ctx, c.Key, c.Limit, now); err != nil {
			return err
		}
	}
	for _, key := range resets {
		if err := l.Reset(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// since returns now as nanoseconds since the limiter's epoch, the first now
// it saw.
func (m *MemoryLimiter) since(now time.Time) int64 {
	epoch := m.epoch.Load()
	if epoch == nil {
		first := now // a copy, so that now itself does not escape
		m.epoch.CompareAndSwap(nil, &first)
		epoch = m.epoch.Load()
	}
	return int64(now.Sub(*epoch))
}

// addSat returns a+b, or the largest int64 if that overflows (b >= 0).
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func (m *MemoryLimiter) shard(key string) *limiterShard { return &m.shards[m.shardIndex(key)] }

func (m *MemoryLimiter) shardIndex(key string) int {
	if len(m.shards) == 1 {
		return 0
	}
	return int(maphash.String(m.seed, key) & uint64(len(m.shards)-1))
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
func (m *MemoryLimiter) add(s *limiterShard, key string, l Limit, now time.Time, at int64) *bucket {
	b := &bucket{
		limit:  l,
		lim:    rate.NewLimiter(rate.Limit(float64(l.Events)/l.Per.Seconds()), l.Events),
		idleAt: math.MinInt64, // no event yet
	}
	if head, ok := s.keys[key]; ok {
		b.next = head // a known key under another limit: no new key
	} else {
		if len(s.keys) >= m.perShard {
			s.makeRoom(now, at, m.perShard)
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
func (s *limiterShard) makeRoom(now time.Time, at int64, perShard int) {
	if s.inserted >= perShard/2 {
		s.sweep(at)
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
			f = min(f, b.lim.TokensAt(now)/float64(b.limit.Events))
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

// sweep drops the buckets idle at at, and keys left with none. s.mu must
// be held.
func (s *limiterShard) sweep(at int64) {
	for k, head := range s.keys {
		keep := head
		for p := &keep; *p != nil; {
			if (*p).idleAt <= at {
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

// sweepSome starts a sweep if limiterSweepEvery has passed since the last
// one (or the clock went back by more than that), and sweeps one shard if
// a sweep is under way.
func (m *MemoryLimiter) sweepSome(at int64) {
	const every = int64(limiterSweepEvery)
	if next := m.nextSweep.Load(); (at >= next || at < next-2*every) && m.nextSweep.CompareAndSwap(next, at+every) {
		m.unswept.Store(int32(len(m.shards)))
	}
	if m.unswept.Load() <= 0 {
		return
	}
	if i := m.unswept.Add(-1); i >= 0 {
		s := &m.shards[i]
		s.mu.Lock()
		s.sweep(at)
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

// refund gives one token back to the bucket at now, up to full. A
// rate.Limiter cannot be given tokens, so the bucket gets a new one that
// holds at now what the old one would after the refund: one emptied as
// long before now as the tokens take to come back.
func (b *bucket) refund(now time.Time) {
	burst := b.lim.Burst()
	tokens := b.lim.TokensAt(now) + 1
	lim := rate.NewLimiter(b.lim.Limit(), burst)
	if tokens < float64(burst) {
		refill := time.Duration(tokens / float64(b.lim.Limit()) * float64(time.Second))
		lim.ReserveN(now.Add(-refill), burst)
	}
	b.lim = lim
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

// len returns the number of keys held.
func (m *MemoryLimiter) len() int {
	m.once.Do(m.init)
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.keys)
		s.mu.Unlock()
	}
	return n
}
