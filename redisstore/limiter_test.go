package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

func newTestLimiter(t *testing.T) (*Limiter, string) {
	t.Helper()
	rdb, prefix := testClient(t)
	return NewLimiter(rdb, Options{Prefix: prefix}), prefix
}

func TestLimiterGCRA(t *testing.T) {
	l, _ := newTestLimiter(t)
	ctx := context.Background()
	limit := phoneauth.Limit{Events: 3, Per: 5 * time.Minute} // burst 3, then one per 100 s
	allow := func(key string, now time.Time) (bool, time.Duration) {
		t.Helper()
		ok, retry, err := l.Allow(ctx, key, limit, now)
		if err != nil {
			t.Fatal(err)
		}
		return ok, retry
	}
	for i := range 3 {
		if ok, _ := allow("phone:a", t0); !ok {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	if ok, retry := allow("phone:a", t0); ok || retry != 100*time.Second {
		t.Fatalf("4th event: ok = %v, retry = %v; want refused, 100s", ok, retry)
	}
	if ok, retry := allow("phone:a", t0.Add(40*time.Second)); ok || retry != 60*time.Second {
		t.Errorf("40 s later: ok = %v, retry = %v; want refused, 60s", ok, retry)
	}
	if ok, _ := allow("phone:b", t0); !ok {
		t.Error("another key shares the first one's budget")
	}
	if ok, _ := allow("phone:a", t0.Add(100*time.Second)); !ok {
		t.Error("refused after the emission interval")
	}
	if ok, _ := allow("phone:a", t0.Add(100*time.Second)); ok {
		t.Error("two events allowed after one interval")
	}
	// A long pause refills the bucket, but never beyond the burst.
	later := t0.Add(time.Hour)
	for i := range 3 {
		if ok, _ := allow("phone:a", later); !ok {
			t.Fatalf("after a pause, event %d refused", i+1)
		}
	}
	if ok, _ := allow("phone:a", later); ok {
		t.Error("burst exceeded after a pause")
	}
	if err := l.Reset(ctx, "phone:a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := allow("phone:a", later); !ok {
		t.Error("refused after Reset")
	}
	if err := l.Reset(ctx, "never-seen"); err != nil {
		t.Errorf("Reset(unknown key) = %v", err)
	}
}

func TestLimiterEdges(t *testing.T) {
	l, _ := newTestLimiter(t)
	ctx := context.Background()
	for range 5 {
		if ok, _, err := l.Allow(ctx, "k", phoneauth.Unlimited, t0); !ok || err != nil {
			t.Fatalf("Unlimited refused: %v", err)
		}
	}
	if ok, retry, err := l.Allow(ctx, "k", phoneauth.Limit{Events: 0, Per: time.Minute}, t0); ok || retry != time.Minute || err != nil {
		t.Errorf("zero events: %v, %v, %v; want refused, 1m", ok, retry, err)
	}
	// An interval under a microsecond still limits to the burst.
	fast := phoneauth.Limit{Events: 10, Per: time.Microsecond}
	n := 0
	for range 20 {
		if ok, _, _ := l.Allow(ctx, "fast", fast, t0); ok {
			n++
		}
	}
	if n != 10 {
		t.Errorf("%d of 20 events allowed at one instant, want the burst of 10", n)
	}
}

func TestLimiterTTL(t *testing.T) {
	rdb, prefix := testClient(t)
	l := NewLimiter(rdb, Options{Prefix: prefix})
	ctx := context.Background()
	limit := phoneauth.Limit{Events: 10, Per: 10 * time.Minute}
	for range 10 {
		if ok, _, err := l.Allow(ctx, "ip:1", limit, t0); !ok || err != nil {
			t.Fatalf("Allow = %v, %v", ok, err)
		}
	}
	// The key lives until the bucket is full again (10 min after a full
	// burst), plus the margin; the caller's clock is irrelevant to Redis.
	pttl := rdb.PTTL(ctx, l.keys.limit("ip:1")).Val()
	if want := 10*time.Minute + ttlMargin; pttl > want || pttl < want-10*time.Second {
		t.Errorf("PTTL = %v, want about %v", pttl, want)
	}
}
