package pgstore

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// Benchmarks against the test server (see main_test.go). The Parallel ones
// run GOMAXPROCS goroutines on distinct keys, as replicas would.
//
//	go test -run '^$' -bench . -benchtime 2s

func BenchmarkAttemptChallenge(b *testing.B) {
	s := newTestStore(b, nil)
	c := newChallenge(t0)
	c.MaxAttempts = 1 << 30
	must(b, s.PutChallenge(ctx, c))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the Store's part of a verification: count the
// attempt, then consume the code.
func BenchmarkVerify(b *testing.B) {
	s := newTestStore(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c := newChallenge(t0)
		must(b, s.PutChallenge(ctx, c))
		b.StartTimer()
		if _, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0); err != nil {
			b.Fatal(err)
		}
		if err := s.DeleteChallenge(ctx, c.Key, c.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRotateRefresh(b *testing.B) {
	s := newTestStore(b, nil)
	sess := newSession(t0)
	must(b, s.CreateSession(ctx, sess))
	current := sess.RefreshHash
	b.ReportAllocs()
	for b.Loop() {
		_, next, err := rotate(s, sess.ID, current, t0, 0)
		if err != nil {
			b.Fatal(err)
		}
		current = next
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	lim := newTestStore(b, nil).Limiter()
	key := "bench:" + rand.Text()
	l := phoneauth.Limit{Events: 1 << 30, Per: time.Hour}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := lim.Allow(ctx, key, l, t0); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkParallelAttemptChallenge(b *testing.B) {
	s := newTestStore(b, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := newChallenge(t0)
		c.MaxAttempts = 1 << 30
		must(b, s.PutChallenge(ctx, c))
		for pb.Next() {
			if _, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParallelRotateRefresh(b *testing.B) {
	s := newTestStore(b, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		sess := newSession(t0)
		must(b, s.CreateSession(ctx, sess))
		current := sess.RefreshHash
		for pb.Next() {
			_, next, err := rotate(s, sess.ID, current, t0, 0)
			if err != nil {
				b.Fatal(err)
			}
			current = next
		}
	})
}

func BenchmarkParallelLimiterAllow(b *testing.B) {
	lim := newTestStore(b, nil).Limiter()
	l := phoneauth.Limit{Events: 1 << 30, Per: time.Hour}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Sprintf("bench:%s:%d", rand.Text(), n.Add(1))
		for pb.Next() {
			if ok, _, err := lim.Allow(ctx, key, l, t0); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}

// BenchmarkLimiterRequestLimits measures the four limits of a code request
// (the default cooldown, IP, device and phone limits) on new keys, decided
// in one AllowAll ("batch") or by one Allow each ("one by one", as an
// Authenticator with a plain Limiter does), serially and from
// GOMAXPROCS×8 goroutines.
func BenchmarkLimiterRequestLimits(b *testing.B) {
	lim := newTestStore(b, nil).Limiter()
	limits := []phoneauth.Limit{{Events: 1, Per: time.Minute}, {Events: 20, Per: time.Hour}, {Events: 10, Per: time.Hour}, {Events: 5, Per: time.Hour}}
	prefix := "bench:" + rand.Text() + ":"
	var n atomic.Int64
	checks := func() []phoneauth.LimitCheck {
		k := fmt.Sprint(prefix, n.Add(1), ":")
		cs := make([]phoneauth.LimitCheck, len(limits))
		for i, l := range limits {
			cs[i] = phoneauth.LimitCheck{Key: fmt.Sprint(k, i), Limit: l}
		}
		return cs
	}
	batch := func() error {
		refused, _, err := lim.AllowAll(ctx, checks(), t0)
		if err == nil && refused != -1 {
			err = fmt.Errorf("check %d refused", refused)
		}
		return err
	}
	oneByOne := func() error {
		for _, c := range checks() {
			ok, _, err := lim.Allow(ctx, c.Key, c.Limit, t0)
			if err == nil && !ok {
				err = fmt.Errorf("%s refused", c.Key)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	for _, mode := range []struct {
		name string
		op   func() error
	}{{"batch", batch}, {"one by one", oneByOne}} {
		b.Run(mode.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				must(b, mode.op())
			}
		})
		b.Run(mode.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := mode.op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
