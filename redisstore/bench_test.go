package redisstore

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/redis/go-redis/v9"
)

// The benchmarks run against the test server (PHONEAUTH_TEST_REDIS_URL).
// Each measures one operation, one call after another ("serial": the
// latency of a round trip) and from GOMAXPROCS×8 goroutines ("parallel":
// the throughput of a pool of connections).

func benchStore(b *testing.B) *Store {
	b.Helper()
	rdb, prefix := testClient(b)
	return New(rdb, Options{Prefix: prefix})
}

// benchOp runs op serially and in parallel; op gets a number unique to the
// call.
func benchOp(b *testing.B, op func(ctx context.Context, i int64) error) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := range int64(b.N) {
			if err := op(ctx, i); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(ctx, next.Add(1)-1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkPutChallenge(b *testing.B) {
	s := benchStore(b)
	c := testChallenge("")
	benchOp(b, func(ctx context.Context, i int64) error {
		c := c
		c.Key = "login:+1555" + strconv.FormatInt(i%10000, 10)
		return s.PutChallenge(ctx, c)
	})
}

func BenchmarkAttemptChallenge(b *testing.B) {
	s := benchStore(b)
	c := testChallenge("login:+15550000001")
	c.MaxAttempts = 1 << 40
	if err := s.PutChallenge(context.Background(), c); err != nil {
		b.Fatal(err)
	}
	benchOp(b, func(ctx context.Context, _ int64) error {
		_, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0)
		return err
	})
}

// BenchmarkDeleteChallenge consumes challenges put beforehand, outside the
// timer, in pipelines.
func BenchmarkDeleteChallenge(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			c := testChallenge("")
			prefix := "login:" + mode + strconv.Itoa(b.N) + ":"
			if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := range b.N {
					key := s.keys.challenge(prefix + strconv.Itoa(i))
					p.HSet(ctx, key, "id", c.ID, "expires_at", encodeTime(c.ExpiresAt))
					p.PExpire(ctx, key, time.Hour)
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			if mode == "serial" {
				for i := range b.N {
					if err := s.DeleteChallenge(ctx, prefix+strconv.Itoa(i), c.ID); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(8)
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.DeleteChallenge(ctx, prefix+strconv.FormatInt(next.Add(1)-1, 10), c.ID); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRotateRefresh rotates the refresh tokens of 64 sessions, each
// rotation replacing the token the previous one of its session issued.
func BenchmarkRotateRefresh(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	const sessions = 64
	type chain struct {
		id   string
		last []byte
		ch   chan struct{} // a one-slot lock: rotations of one session are sequential
	}
	chains := make([]*chain, sessions)
	for i := range chains {
		sess := testSession("user-bench", time.Now())
		if err := s.CreateSession(ctx, sess); err != nil {
			b.Fatal(err)
		}
		chains[i] = &chain{id: sess.ID, last: sess.RefreshHash, ch: make(chan struct{}, 1)}
	}
	benchOp(b, func(ctx context.Context, i int64) error {
		c := chains[i%sessions]
		c.ch <- struct{}{}
		defer func() { <-c.ch }()
		next := []byte(strconv.FormatInt(i, 10))
		now := time.Now()
		_, err := s.RotateRefresh(ctx, phoneauth.Rotation{SessionID: c.id, OldHash: c.last, NewHash: next,
			NewExpiresAt: now.Add(24 * time.Hour), Now: now})
		c.last = next
		return err
	})
}

func BenchmarkLimiterAllow(b *testing.B) {
	rdb, prefix := testClient(b)
	l := NewLimiter(rdb, Options{Prefix: prefix})
	limit := phoneauth.Limit{Events: 1 << 30, Per: time.Second}
	benchOp(b, func(ctx context.Context, i int64) error {
		ok, _, err := l.Allow(ctx, "ip:"+strconv.FormatInt(i%1000, 10), limit, t0)
		if err == nil && !ok {
			b.Error("refused")
		}
		return err
	})
}
