package pgstore

import (
	"crypto/rand"
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
