package pgstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

func TestLimiterGCRA(t *testing.T) {
	lim := newTestStore(t, nil).Limiter()
	key := "gcra:" + rand.Text()
	l := phoneauth.Limit{Events: 3, Per: 3 * time.Minute} // a burst of 3, then one a minute

	allow := func(now time.Time, wantOK bool, wantRetry time.Duration) {
		t.Helper()
		ok, retry, err := lim.Allow(ctx, key, l, now)
		must(t, err)
		if ok != wantOK || retry != wantRetry {
			t.Fatalf("Allow at t0+%s = %v, %s; want %v, %s", now.Sub(t0), ok, retry, wantOK, wantRetry)
		}
	}
	allow(t0, true, 0)
	allow(t0, true, 0)
	allow(t0.Add(time.Second), true, 0)
	allow(t0.Add(time.Second), false, time.Minute-time.Second)
	allow(t0.Add(59*time.Second), false, time.Second) // refusals are not recorded
	allow(t0.Add(time.Minute), true, 0)
	allow(t0.Add(time.Minute), false, time.Minute)
	allow(t0.Add(10*time.Minute), true, 0) // full again: a new burst
	allow(t0.Add(10*time.Minute), true, 0)
	allow(t0.Add(10*time.Minute), true, 0)
	allow(t0.Add(10*time.Minute), false, time.Minute)

	must(t, lim.Reset(ctx, key))
	allow(t0.Add(10*time.Minute), true, 0)
}

func TestLimiterEdgeLimits(t *testing.T) {
	lim := newTestStore(t, nil).Limiter()
	key := "edge:" + rand.Text()
	for _, tc := range []struct {
		name      string
		l         phoneauth.Limit
		ok        bool
		retry     time.Duration
		callTwice bool
	}{
		{"Unlimited", phoneauth.Unlimited, true, 0, true},
		{"events without a period", phoneauth.Limit{Events: 5}, true, 0, true},
		{"zero events", phoneauth.Limit{Events: 0, Per: time.Minute}, false, time.Minute, false},
		{"a period of centuries", phoneauth.Limit{Events: 1, Per: 250 * 365 * 24 * time.Hour}, true, 0, false},
		{"more events than nanoseconds", phoneauth.Limit{Events: 1000, Per: 10}, true, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := key + tc.name
			for range 2 {
				ok, retry, err := lim.Allow(ctx, k, tc.l, t0)
				if err != nil || ok != tc.ok || retry != tc.retry {
					t.Fatalf("Allow = %v, %s, %v; want %v, %s, nil", ok, retry, err, tc.ok, tc.retry)
				}
				if !tc.callTwice {
					break
				}
			}
		})
	}
	if ok, _, err := lim.Allow(ctx, key, phoneauth.Limit{}, t0); err == nil || ok {
		t.Fatalf("Allow with the zero Limit: %v, %v; want an error", ok, err)
	}
	// A period of centuries is capped at 100 years: the second event waits.
	ok, retry, err := lim.Allow(ctx, key+"a period of centuries", phoneauth.Limit{Events: 1, Per: 250 * 365 * 24 * time.Hour}, t0)
	if err != nil || ok || retry < 99*365*24*time.Hour {
		t.Fatalf("second event of 1 per 250 years: %v, %s, %v; want refused for about 100 years", ok, retry, err)
	}
}

// bucketTats returns the tat of each key's row in limiter_buckets; a key
// without a row is missing from the map.
func bucketTats(t *testing.T, s *Store, keys ...string) map[string]int64 {
	t.Helper()
	rows, err := s.pool.Query(ctx, "SELECT key, tat FROM "+s.table("limiter_buckets")+" WHERE key = ANY ($1)", keys)
	must(t, err)
	tats := make(map[string]int64)
	for rows.Next() {
		var k string
		var tat int64
		must(t, rows.Scan(&k, &tat))
		tats[k] = tat
	}
	must(t, rows.Err())
	return tats
}

// A refused batch leaves every row of limiter_buckets as it was: the
// buckets before the refusing check keep their events, the bucket of a new
// key is not created, and the refusal names the first refusing check with
// the retryAfter Allow would give.
func TestLimiterAllowAllRefusedTouchesNothing(t *testing.T) {
	s := newTestStore(t, nil)
	lim := s.Limiter()
	p := "refused:" + rand.Text() + ":"
	busy, spent, old, fresh, later := p+"busy", p+"spent", p+"old", p+"fresh", p+"later"
	two := phoneauth.Limit{Events: 2, Per: time.Hour}
	// busy has one event left, spent none; old's events are long past.
	for _, ev := range []struct {
		key string
		n   int
		at  time.Time
	}{{busy, 1, t0}, {spent, 2, t0.Add(-time.Minute)}, {old, 2, t0.Add(-2 * time.Hour)}} {
		for range ev.n {
			ok, _, err := lim.Allow(ctx, ev.key, two, ev.at)
			must(t, err)
			if !ok {
				t.Fatalf("setting up %s: refused", ev.key)
			}
		}
	}
	all := []string{busy, spent, old, fresh, later}
	before := bucketTats(t, s, all...)
	if len(before) != 3 {
		t.Fatalf("rows before the batch: %v, want busy, spent and old", before)
	}
	checks := []phoneauth.LimitCheck{{Key: busy, Limit: two}, {Key: fresh, Limit: two}, {Key: old, Limit: two}, {Key: spent, Limit: two}, {Key: later, Limit: two}}
	for range 3 {
		refused, retry, err := lim.AllowAll(ctx, checks, t0)
		must(t, err)
		// spent's first event was at t0-1m: its next fits at t0+29m.
		if refused != 3 || retry != 29*time.Minute {
			t.Fatalf("AllowAll = %d, %s; want 3 (spent), 29m", refused, retry)
		}
		if after := bucketTats(t, s, all...); !maps.Equal(after, before) {
			t.Fatalf("a refused batch changed limiter_buckets: before %v, after %v", before, after)
		}
	}
	// Allow agrees on spent's retryAfter.
	if ok, retry, err := lim.Allow(ctx, spent, two, t0); err != nil || ok || retry != 29*time.Minute {
		t.Fatalf("Allow(spent) = %v, %s, %v; want refused, 29m", ok, retry, err)
	}

	// Without spent the batch passes: one event on each key, busy's last.
	checks = slices.Delete(checks, 3, 4)
	if refused, _, err := lim.AllowAll(ctx, checks, t0); err != nil || refused != -1 {
		t.Fatalf("AllowAll without the spent key = %d, %v; want -1, nil", refused, err)
	}
	interval := int64(30 * time.Minute)
	want := map[string]int64{
		busy: before[busy] + interval, spent: before[spent], // busy's tat was ahead of t0
		old: t0.UnixNano() + interval, fresh: t0.UnixNano() + interval, later: t0.UnixNano() + interval,
	}
	if after := bucketTats(t, s, all...); !maps.Equal(after, want) {
		t.Fatalf("rows after an allowed batch: %v, want %v", after, want)
	}
	// busy's two events were at t0: the next fits half an hour on.
	if refused, retry, err := lim.AllowAll(ctx, checks, t0); err != nil || refused != 0 || retry != 30*time.Minute {
		t.Fatalf("AllowAll with busy spent = %d, %s, %v; want 0 (busy), 30m", refused, retry, err)
	}
}

// AllowAll decides exactly as phoneauth.MemoryLimiter.AllowAll, the
// reference, over a deterministic random run of batches: the same
// refusing check with the same retryAfter, batch after batch, with keys
// repeated within a batch, off limits and limits of no events among them,
// and time moving on by random steps.
func TestLimiterAllowAllMatchesMemory(t *testing.T) {
	lim := newTestStore(t, nil).Limiter()
	mem := phoneauth.NewMemoryLimiter(0)
	r := mrand.New(mrand.NewPCG(1, 2))
	p := "memory:" + rand.Text() + ":"
	// Each key has its one Limit: MemoryLimiter keeps a bucket per key and
	// Limit, pgstore one per key.
	limits := []phoneauth.Limit{
		{Events: 1, Per: time.Minute},
		{Events: 3, Per: 3 * time.Minute},
		{Events: 5, Per: time.Hour},
		{Events: 2, Per: 7 * time.Second},
		{Events: 10, Per: 24 * time.Hour},
	}
	now := t0
	var allowed, refused, repeated int
	for n := range 400 {
		var checks []phoneauth.LimitCheck
		for range 1 + r.IntN(4) {
			switch x := r.IntN(20); {
			case x == 0:
				checks = append(checks, phoneauth.LimitCheck{Key: p + "off", Limit: phoneauth.Unlimited})
			case x == 1 && n%10 == 0:
				checks = append(checks, phoneauth.LimitCheck{Key: p + "none", Limit: phoneauth.Limit{Per: time.Minute}})
			default:
				j := r.IntN(len(limits))
				checks = append(checks, phoneauth.LimitCheck{Key: fmt.Sprint(p, j), Limit: limits[j]})
			}
		}
		if hasRepeats(checks) {
			repeated++
		}
		wantI, wantRetry, err := mem.AllowAll(ctx, checks, now)
		must(t, err)
		gotI, gotRetry, err := lim.AllowAll(ctx, checks, now)
		must(t, err)
		// The MemoryLimiter counts tokens in floating point: allow it a
		// nanosecond either way.
		if gotI != wantI || gotRetry < wantRetry-1 || gotRetry > wantRetry+1 {
			t.Fatalf("batch %d at t0+%s, %v: AllowAll = %d, %s; the MemoryLimiter says %d, %s",
				n, now.Sub(t0), checks, gotI, gotRetry, wantI, wantRetry)
		}
		if gotI < 0 {
			allowed++
		} else {
			refused++
		}
		now = now.Add(time.Duration(r.Int64N(int64(20 * time.Second))))
	}
	t.Logf("%d batches allowed, %d refused; %d name a key twice", allowed, refused, repeated)
	if allowed < 50 || refused < 50 || repeated < 20 {
		t.Fatalf("%d batches allowed, %d refused, %d with a repeated key: the run checks too little", allowed, refused, repeated)
	}
}

func hasRepeats(checks []phoneauth.LimitCheck) bool {
	for i, c := range checks {
		for _, d := range checks[:i] {
			if c.Key == d.Key && !c.Limit.Off() {
				return true
			}
		}
	}
	return false
}

// Goroutines hammer overlapping batches, their keys in random orders, with
// single Allow calls mixed in, all at one instant (no refill): no call
// fails (a deadlock would, as PostgreSQL breaks it with an error), no key
// admits more events than its limit, and each key then has exactly the
// events left that the allowed calls did not take: a refused batch took
// none.
func TestLimiterAllowAllConcurrent(t *testing.T) {
	s := newTestStore(t, nil)
	lim := s.Limiter()
	const (
		keys       = 6
		goroutines = 12
		calls      = 30
	)
	p := "hammer:" + rand.Text() + ":"
	limits := make([]phoneauth.Limit, keys)
	for j := range limits {
		limits[j] = phoneauth.Limit{Events: 4 + 3*j, Per: time.Hour}
	}
	key := func(j int) string { return fmt.Sprint(p, j) }

	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var (
		mu       sync.Mutex
		taken    [keys]int // events allowed per key
		allowed  int       // calls
		refused  int
		firstErr error
	)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(g), 42))
			for range calls {
				js := r.Perm(keys)[:1+r.IntN(4)] // distinct keys, random order
				checks := make([]phoneauth.LimitCheck, len(js))
				for i, j := range js {
					checks[i] = phoneauth.LimitCheck{Key: key(j), Limit: limits[j]}
				}
				var ok bool
				var err error
				if len(js) == 1 && r.IntN(2) == 0 {
					ok, _, err = lim.Allow(cctx, checks[0].Key, checks[0].Limit, t0)
				} else {
					var refused int
					refused, _, err = lim.AllowAll(cctx, checks, t0)
					ok = refused == -1
				}
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel() // the others stop too
					}
					mu.Unlock()
					return
				}
				if ok {
					allowed++
					for _, j := range js {
						taken[j]++
					}
				} else {
					refused++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("a concurrent call failed: %v", firstErr)
	}
	t.Logf("%d calls allowed, %d refused; events taken per key: %v", allowed, refused, taken)
	if allowed == 0 || refused == 0 {
		t.Fatalf("%d calls allowed, %d refused: want some of each", allowed, refused)
	}
	for j, l := range limits {
		if taken[j] > l.Events {
			t.Errorf("key %d: %d events allowed, limit %d", j, taken[j], l.Events)
		}
		left := 0
		for {
			ok, _, err := lim.Allow(ctx, key(j), l, t0)
			must(t, err)
			if !ok {
				break
			}
			if left++; left > l.Events {
				t.Fatalf("key %d never refuses", j)
			}
		}
		if taken[j]+left != l.Events {
			t.Errorf("key %d: %d events allowed, %d left after, want %d in all", j, taken[j], left, l.Events)
		}
	}
}

// AllowAll handles limits as Allow does, and fails as it does.
func TestLimiterAllowAllEdges(t *testing.T) {
	s := newTestStore(t, nil)
	lim := s.Limiter()
	p := "alledge:" + rand.Text() + ":"
	one := phoneauth.Limit{Events: 1, Per: time.Hour}

	// Off checks allow, and alone are no batch at all.
	for _, checks := range [][]phoneauth.LimitCheck{nil, {{Key: p + "off", Limit: phoneauth.Unlimited}, {Key: p + "off", Limit: phoneauth.Limit{Events: 3}}}} {
		if refused, retry, err := lim.AllowAll(ctx, checks, t0); refused != -1 || retry != 0 || err != nil {
			t.Fatalf("AllowAll(%v) = %d, %s, %v; want -1, 0, nil", checks, refused, retry, err)
		}
	}
	// A check of zero events refuses with its Per, the first one even after
	// a check that would refuse, and nothing is recorded.
	zero := phoneauth.Limit{Per: 5 * time.Minute}
	checks := []phoneauth.LimitCheck{{Key: p + "a", Limit: one}, {Key: p + "z", Limit: zero}, {Key: p + "z2", Limit: phoneauth.Limit{Per: time.Minute}}}
	if refused, retry, err := lim.AllowAll(ctx, checks, t0); refused != 1 || retry != 5*time.Minute || err != nil {
		t.Fatalf("AllowAll with a limit of zero events = %d, %s, %v; want 1, 5m, nil", refused, retry, err)
	}
	if tats := bucketTats(t, s, p+"a", p+"z"); len(tats) != 0 {
		t.Fatalf("a batch refused by a limit of zero events wrote buckets: %v", tats)
	}
	// The zero Limit is an error, as in Allow.
	_, _, err := lim.AllowAll(ctx, []phoneauth.LimitCheck{{Key: p + "a", Limit: one}, {Key: p + "b"}}, t0)
	if err == nil || errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Fatalf("AllowAll with the zero Limit: %v, want errZeroLimit", err)
	}
	// A period of centuries is capped at 100 years, as in Allow.
	centuries := phoneauth.Limit{Events: 1, Per: 250 * 365 * 24 * time.Hour}
	c := []phoneauth.LimitCheck{{Key: p + "centuries", Limit: centuries}}
	if refused, _, err := lim.AllowAll(ctx, c, t0); refused != -1 || err != nil {
		t.Fatalf("first event of 1 per 250 years: %d, %v", refused, err)
	}
	if refused, retry, err := lim.AllowAll(ctx, c, t0); refused != 0 || retry != maxPeriod || err != nil {
		t.Fatalf("second event of 1 per 250 years: %d, %s, %v; want refused for 100 years", refused, retry, err)
	}
	// A cancelled context is an unavailable limiter that keeps its cause.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = lim.AllowAll(cctx, []phoneauth.LimitCheck{{Key: p + "a", Limit: one}}, t0)
	if !errors.Is(err, phoneauth.ErrStoreUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("AllowAll with a cancelled context: %v, want ErrStoreUnavailable and context.Canceled", err)
	}
}

// giveBack, which a refresh whose second statement failed runs, gives back
// the events the first recorded, even when the refresh's own context has
// ended (its deadline may be what failed), and returns the refresh's
// error.
func TestGiveBackAfterFailedRoute(t *testing.T) {
	s := newTestStore(t, nil)
	lim := s.Limiter()
	key := "giveback:" + rand.Text()
	checks := []phoneauth.LimitCheck{{Key: key, Limit: phoneauth.Limit{Events: 2, Per: time.Minute}}}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2 {
		if refused, _, err := lim.AllowAll(ctx, checks, now); err != nil || refused != -1 {
			t.Fatalf("event %d: refused %d, %v", i+1, refused, err)
		}
	}
	if refused, _, err := lim.AllowAll(ctx, checks, now); err != nil || refused != 0 {
		t.Fatalf("third event: refused %d, %v; want the limit full", refused, err)
	}
	b, _, _, err := newBatch(checks)
	must(t, err)
	ended, cancel := context.WithCancel(ctx)
	cancel()
	failed := fmt.Errorf("%w: the second statement", phoneauth.ErrStoreUnavailable)
	if got := s.giveBack(ended, b, now, failed); got != failed {
		t.Fatalf("giveBack returned %v, want the route's error as it was", got)
	}
	if refused, _, err := lim.AllowAll(ctx, checks, now); err != nil || refused != -1 {
		t.Fatalf("after giveBack: refused %d, %v; want one event given back", refused, err)
	}
	if refused, _, err := lim.AllowAll(ctx, checks, now); err != nil || refused != 0 {
		t.Fatalf("after giveBack: refused %d, %v; want exactly one event given back", refused, err)
	}
}
