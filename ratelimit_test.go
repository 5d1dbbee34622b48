package phoneauth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var _ Limiter = (*MemoryLimiter)(nil)

var limiterEpoch = time.Date(2026, 2, 3, 14, 46, 16, 0, time.UTC)

// allow calls l.Allow and fails the test on an error.
func allow(t testing.TB, l Limiter, key string, lim Limit, now time.Time) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Allow(context.Background(), key, lim, now)
	if err != nil {
		t.Fatalf("Allow(%q, %+v): %v", key, lim, err)
	}
	return ok, retry
}

func TestMemoryLimiterBurstThenRefuse(t *testing.T) {
	m := NewMemoryLimiter(0)
	clock := NewManualClock(limiterEpoch)
	lim := Limit{Events: 3, Per: 5 * time.Minute} // one token per 100 s
	t0 := clock.Now()
	for i := range 3 {
		if ok, retry := allow(t, m, "phone", lim, t0); !ok || retry != 0 {
			t.Fatalf("event %d of the burst: ok=%v retry=%v", i+1, ok, retry)
		}
	}
	for range 2 { // refusals consume nothing: the same answer twice
		if ok, retry := allow(t, m, "phone", lim, t0); ok || retry != 100*time.Second {
			t.Fatalf("4th event: ok=%v retry=%v, want refused, 100s", ok, retry)
		}
	}
	if ok, retry := allow(t, m, "phone", lim, clock.Advance(30*time.Second)); ok || retry != 70*time.Second {
		t.Fatalf("30 s later: ok=%v retry=%v, want refused, 70s", ok, retry)
	}
	if ok, retry := allow(t, m, "phone", lim, clock.Advance(70*time.Second-time.Nanosecond)); ok || retry != time.Nanosecond {
		t.Fatalf("1 ns before the token: ok=%v retry=%v, want refused, 1ns", ok, retry)
	}
	if ok, _ := allow(t, m, "phone", lim, clock.Advance(time.Nanosecond)); !ok {
		t.Fatal("refused when the token is back")
	}
	if ok, retry := allow(t, m, "phone", lim, clock.Now()); ok || retry != 100*time.Second {
		t.Fatalf("right after: ok=%v retry=%v, want refused, 100s", ok, retry)
	}
}

// allowOne is allow through AllowAll, with a single check.
func allowOne(t testing.TB, l Limiter, key string, lim Limit, now time.Time) (bool, time.Duration) {
	t.Helper()
	refused, retry, err := l.(BatchLimiter).AllowAll(context.Background(), []LimitCheck{{key, lim}}, now)
	if err != nil {
		t.Fatalf("AllowAll(%q, %+v): %v", key, lim, err)
	}
	return refused < 0, retry
}

// TestMemoryLimiterRetryAfterEdges checks, for awkward rates too, that
// retryAfter is exactly the first moment an event is allowed, by Allow and
// by AllowAll.
func TestMemoryLimiterRetryAfterEdges(t *testing.T) {
	for _, lim := range []Limit{
		{3, 5 * time.Minute}, {10, 10 * time.Minute}, {5, 10 * time.Minute}, {10, time.Hour},
		{7, time.Second}, {3, 7 * time.Second}, {1000, time.Hour}, {1, time.Nanosecond},
		{1, 30 * 24 * time.Hour}, {3, 1001 * time.Millisecond},
	} {
		for name, allow := range map[string]func(testing.TB, Limiter, string, Limit, time.Time) (bool, time.Duration){"Allow": allow, "AllowAll": allowOne} {
			t.Run(fmt.Sprintf("%s/%d per %v", name, lim.Events, lim.Per), func(t *testing.T) {
				testRetryAfterEdges(t, lim, allow)
			})
		}
	}
}

// testRetryAfterEdges drives one limit through allow: burst, then twenty
// refusals, each followed by an event exactly at its retryAfter.
func testRetryAfterEdges(t *testing.T, lim Limit, allow func(testing.TB, Limiter, string, Limit, time.Time) (bool, time.Duration)) {
	m := NewMemoryLimiter(0)
	now := limiterEpoch
	for range lim.Events {
		if ok, _ := allow(t, m, "k", lim, now); !ok {
			t.Fatal("burst refused")
		}
	}
	perToken := lim.Per / time.Duration(lim.Events)
	for i := range 20 {
		ok, retry := allow(t, m, "k", lim, now)
		if ok {
			t.Fatalf("round %d: allowed with an empty bucket", i)
		}
		if d := retry - perToken; d < -2 || d > 2 {
			t.Fatalf("round %d: retryAfter %v, want about %v", i, retry, perToken)
		}
		if ok, r := allow(t, m, "k", lim, now.Add(retry-1)); ok || r != 1 {
			t.Fatalf("round %d: at retryAfter-1ns: ok=%v retry=%v, want refused, 1ns", i, ok, r)
		}
		now = now.Add(retry)
		if ok, _ := allow(t, m, "k", lim, now); !ok {
			t.Fatalf("round %d: refused at retryAfter %v", i, retry)
		}
	}
}

func TestMemoryLimiterRefill(t *testing.T) {
	m := NewMemoryLimiter(0)
	lim := Limit{Events: 5, Per: 10 * time.Minute}
	now := limiterEpoch
	for round := range 3 {
		for i := range 5 {
			if ok, _ := allow(t, m, "dev", lim, now); !ok {
				t.Fatalf("round %d: event %d refused", round, i+1)
			}
		}
		if ok, _ := allow(t, m, "dev", lim, now); ok {
			t.Fatalf("round %d: 6th event allowed", round)
		}
		now = now.Add(lim.Per) // a full period refills the whole burst
	}
	// Half a period refills half the burst (2.5 tokens: 2 events).
	now = now.Add(-lim.Per)
	now = now.Add(lim.Per / 2)
	for i := range 2 {
		if ok, _ := allow(t, m, "dev", lim, now); !ok {
			t.Fatalf("after half a period: event %d refused", i+1)
		}
	}
	if ok, retry := allow(t, m, "dev", lim, now); ok || retry != time.Minute {
		t.Fatalf("after half a period: 3rd event ok=%v retry=%v, want refused, 1m (half a token)", ok, retry)
	}
}

func TestMemoryLimiterOffAndZero(t *testing.T) {
	m := NewMemoryLimiter(0)
	for _, lim := range []Limit{Unlimited, {Events: -5, Per: time.Minute}, {Events: 3, Per: 0}} {
		for range 100 {
			if ok, retry := allow(t, m, "k", lim, limiterEpoch); !ok || retry != 0 {
				t.Fatalf("%+v: ok=%v retry=%v, want always allowed", lim, ok, retry)
			}
		}
	}
	if n := m.len(); n != 0 {
		t.Errorf("off limits left %d keys", n)
	}
	if ok, retry := allow(t, m, "k", Limit{Events: 0, Per: time.Hour}, limiterEpoch); ok || retry != time.Hour {
		t.Errorf("0 per hour: ok=%v retry=%v, want refused, 1h", ok, retry)
	}
	if _, _, err := m.Allow(context.Background(), "k", Limit{}, limiterEpoch); err == nil {
		t.Error("the zero Limit: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := m.Allow(ctx, "k", Limit{1, time.Hour}, limiterEpoch); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if err := m.Reset(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Reset with a cancelled context: %v", err)
	}
}

func TestMemoryLimiterReset(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryLimiter(0)
	a, b := Limit{1, time.Hour}, Limit{2, time.Hour}
	allow(t, m, "k", a, limiterEpoch)
	allow(t, m, "k", b, limiterEpoch)
	allow(t, m, "k", b, limiterEpoch)
	allow(t, m, "other", a, limiterEpoch)
	if ok, _ := allow(t, m, "k", a, limiterEpoch); ok {
		t.Fatal("exhausted key allowed")
	}
	if err := m.Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := allow(t, m, "k", a, limiterEpoch); !ok {
		t.Error("after Reset: refused under the first limit")
	}
	if ok, _ := allow(t, m, "k", b, limiterEpoch); !ok {
		t.Error("after Reset: refused under the second limit")
	}
	if ok, _ := allow(t, m, "other", a, limiterEpoch); ok {
		t.Error("Reset of one key reset another")
	}
	if err := m.Reset(ctx, "never seen"); err != nil {
		t.Errorf("Reset of an unknown key: %v", err)
	}
}

func TestMemoryLimiterZeroValue(t *testing.T) {
	var m MemoryLimiter
	if err := m.Reset(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	lim := Limit{1, time.Hour}
	if ok, _ := allow(t, &m, "k", lim, limiterEpoch); !ok {
		t.Fatal("first event refused")
	}
	if ok, retry := allow(t, &m, "k", lim, limiterEpoch); ok || retry != time.Hour {
		t.Fatalf("second event: ok=%v retry=%v, want refused, 1h", ok, retry)
	}
	if got := len(m.shards) * m.perShard; got != defaultLimiterKeys {
		t.Errorf("zero value holds %d keys, want the default %d", got, defaultLimiterKeys)
	}
}

func TestMemoryLimiterKeysIndependent(t *testing.T) {
	m := NewMemoryLimiter(0)
	lim := Limit{2, time.Minute}
	for range 2 {
		allow(t, m, "a", lim, limiterEpoch)
	}
	if ok, _ := allow(t, m, "a", lim, limiterEpoch); ok {
		t.Fatal("a: 3rd event allowed")
	}
	if ok, _ := allow(t, m, "b", lim, limiterEpoch); !ok {
		t.Error("b refused because of a")
	}
	// The same key under another limit has its own bucket.
	if ok, _ := allow(t, m, "a", Limit{2, time.Hour}, limiterEpoch); !ok {
		t.Error("a under another limit refused")
	}
	if n := m.len(); n != 2 {
		t.Errorf("%d keys, want 2 (a key under two limits is one key)", n)
	}
}

func TestMemoryLimiterConcurrent(t *testing.T) {
	m := NewMemoryLimiter(0)
	const events, goroutines, tries = 100, 50, 20
	lim := Limit{events, time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tries {
				if ok, _ := allow(t, m, "shared", lim, limiterEpoch); ok {
					allowed.Add(1)
				}
				allow(t, m, fmt.Sprintf("own-%d-%d", g, i), lim, limiterEpoch) // other shards
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != events {
		t.Errorf("%d of %d concurrent events allowed, want exactly %d", n, goroutines*tries, events)
	}
}

func TestMemoryLimiterEvictsIdleKeys(t *testing.T) {
	m := NewMemoryLimiter(0)
	clock := NewManualClock(limiterEpoch)
	// sweep makes enough calls to sweep every shard (one per call) if a
	// sweep is due, through a probe key that stays.
	probe := Limit{Events: 1 << 20, Per: time.Hour}
	sweep := func() {
		for range m.shards {
			allow(t, m, "probe", probe, clock.Now())
		}
	}
	lim := Limit{Events: 3, Per: 5 * time.Minute}
	for i := range 1000 {
		for range 3 {
			allow(t, m, fmt.Sprintf("k%d", i), lim, clock.Now())
		}
	}
	allow(t, m, "light", lim, clock.Advance(2*time.Minute))
	if n := m.len(); n != 1001 {
		t.Fatalf("%d keys, want 1001", n)
	}

	clock.Advance(2*time.Minute + 59*time.Second)
	sweep()
	if n := m.len(); n != 1002 {
		t.Fatalf("1 s before the keys are idle: %d keys, want 1002 (none idle, and the probe)", n)
	}
	clock.Advance(59 * time.Second)
	sweep()
	if n := m.len(); n != 1002 {
		t.Fatalf("59 s after the last sweep: %d keys, want 1002 (no sweep due)", n)
	}
	clock.Advance(time.Second)
	sweep()
	if n := m.len(); n != 2 || !m.has("light") || !m.has("probe") {
		t.Fatalf("a minute after the last sweep: %d keys, want light and the probe", n)
	}
	clock.Advance(time.Minute) // 6:59, light idle at 7:00
	sweep()
	if !m.has("light") {
		t.Fatal("light dropped before it was idle")
	}
	clock.Advance(time.Minute)
	sweep()
	if n := m.len(); n != 1 || m.has("light") {
		t.Fatalf("5 min after light's event: %d keys, want only the probe", n)
	}
	// A dropped key starts again with a full bucket, as it would have.
	for i := range 3 {
		if ok, _ := allow(t, m, "k1", lim, clock.Now()); !ok {
			t.Fatalf("a swept key: event %d refused", i+1)
		}
	}
}

func TestMemoryLimiterSweepsOncePerInterval(t *testing.T) {
	m := NewMemoryLimiter(100) // one shard: one call sweeps it all
	if len(m.shards) != 1 {
		t.Fatalf("%d shards, want 1", len(m.shards))
	}
	clock := NewManualClock(limiterEpoch)
	lim := Limit{Events: 1, Per: time.Second}
	hour := Limit{Events: 1, Per: time.Hour}
	allow(t, m, "first", lim, clock.Now()) // starts the sweep schedule
	allow(t, m, "multi", hour, clock.Now())
	allow(t, m, "multi", lim, clock.Now())               // the head of multi's chain
	allow(t, m, "a", lim, clock.Advance(30*time.Second)) // "first" idle, no sweep yet
	if !m.has("first") {
		t.Fatal("swept before a minute passed")
	}
	allow(t, m, "b", lim, clock.Advance(30*time.Second))
	if m.has("first") || m.has("a") || !m.has("b") {
		t.Fatal("the sweep a minute on did not drop exactly the idle keys")
	}
	if n := m.buckets("multi"); n != 1 {
		t.Fatalf("a key under a busy and an idle limit has %d buckets, want 1", n)
	}
	if ok, _ := allow(t, m, "multi", hour, clock.Now()); ok {
		t.Fatal("the busy limit of a key was forgotten with its idle one")
	}
	// The clock jumping back does not stop sweeps for good.
	allow(t, m, "c", lim, clock.Advance(-time.Hour))
	allow(t, m, "d", lim, clock.Advance(time.Minute))
	if m.has("c") || !m.has("d") {
		t.Error("no sweep after the clock went back")
	}
}

// buckets returns the number of limits key has a bucket for.
func (m *MemoryLimiter) buckets(key string) int {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for b := s.keys[key]; b != nil; b = b.next {
		n++
	}
	return n
}

// has reports whether key has a bucket.
func (m *MemoryLimiter) has(key string) bool {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[key] != nil
}

func TestMemoryLimiterCap(t *testing.T) {
	for _, maxKeys := range []int{1, 1000, 20_000} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) {
			keys := 100_000
			switch {
			case testing.Short() || raceEnabled():
				keys = max(20_000, 3*maxKeys)
			case maxKeys == 1000:
				keys = 1_000_000
			}
			m := NewMemoryLimiter(maxKeys)
			lim := Limit{Events: 3, Per: time.Hour}
			// A limited key: it must survive the flood, since flooding keys
			// each have tokens left and eviction takes the fullest.
			for range 3 {
				allow(t, m, "hot", lim, limiterEpoch)
			}
			for i := range keys {
				allow(t, m, fmt.Sprintf("flood-%d", i), lim, limiterEpoch)
				if i%1000 == 0 || i == keys-1 {
					if n := m.len(); n > maxKeys {
						t.Fatalf("%d keys after %d inserts, over the cap", n, i+1)
					}
				}
			}
			if n := m.len(); n < maxKeys*9/10 {
				t.Errorf("%d keys: the cap is not used", n)
			}
			if maxKeys > 1 {
				if ok, _ := allow(t, m, "hot", lim, limiterEpoch); ok {
					t.Error("the limited key was evicted by the flood")
				}
			}
		})
	}
}

// TestMemoryLimiterBoundedKeys sends 1M distinct keys through a limiter
// with the default cap: it holds at most the cap. The memory a key takes is
// measured by BenchmarkMemoryLimiterMemory, not asserted here: it depends on
// the runtime.
func TestMemoryLimiterBoundedKeys(t *testing.T) {
	if testing.Short() || raceEnabled() {
		t.Skip("slow: a million keys")
	}
	lim := Limit{Events: 10, Per: 10 * time.Minute}
	m := NewMemoryLimiter(0)
	const n = 1_000_000
	for i := range n {
		allow(t, m, limiterKey(i), lim, limiterEpoch)
	}
	if keys := m.len(); keys > defaultLimiterKeys || keys < defaultLimiterKeys/2 {
		t.Errorf("%d keys held after %d distinct ones, want at most the default cap %d and not far under it", keys, n, defaultLimiterKeys)
	}
}

// limiterKey is the i-th of a million distinct per-IP keys.
func limiterKey(i int) string {
	return fmt.Sprintf("phoneauth:ip:10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
}

// BenchmarkMemoryLimiterMemory reports the heap a key takes without a cap.
func BenchmarkMemoryLimiterMemory(b *testing.B) {
	lim := Limit{Events: 10, Per: 10 * time.Minute}
	const perKeyN = 200_000
	for range b.N {
		before := heapAlloc()
		m := NewMemoryLimiter(1 << 30) // no cap: the cost of a key
		for i := range perKeyN {
			allow(b, m, limiterKey(i), lim, limiterEpoch)
		}
		b.ReportMetric(float64(heapAlloc()-before)/perKeyN, "bytes/key")
		runtime.KeepAlive(m)
	}
}

// raceEnabled reports whether the test binary was built with -race, which
// makes million-key loops too slow.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func BenchmarkMemoryLimiterAllow(b *testing.B) {
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("phoneauth:phone:+9230%08d", i)
	}
	now := limiterEpoch
	run := func(b *testing.B, lim Limit, wantOK bool) {
		m := NewMemoryLimiter(0)
		for _, k := range keys {
			for range min(lim.Events, 10) { // empties the buckets of the refused case
				allow(b, m, k, lim, now)
			}
		}
		var next atomic.Uint32
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(7919))
			for pb.Next() {
				i++
				ok, _, err := m.Allow(context.Background(), keys[i%len(keys)], lim, now)
				if err != nil || ok != wantOK {
					b.Errorf("ok=%v err=%v", ok, err)
					return
				}
			}
		})
	}
	b.Run("allowed", func(b *testing.B) { run(b, Limit{Events: 1 << 40, Per: time.Hour}, true) })
	b.Run("refused", func(b *testing.B) { run(b, Limit{Events: 3, Per: 5 * time.Minute}, false) })
}
