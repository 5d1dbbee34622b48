package redisstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/redis/go-redis/v9"
)

// The flow benchmarks and round-trip counts drive a real
// phoneauth.Authenticator on Redis (its Store, Users and Limiter) with the
// default limits, the system clock and a Sender that does nothing, so what
// they measure is phoneauth's own work plus Redis:
//
//	go test -run '^$' -bench Flow -benchtime 2s
//
// Every request is for a new phone, from a new device and address, so no
// limit refuses; every verification signs a new user in (UserByPhone, then
// CreateUser), as a load generator's flows do. Each benchmark reports the
// round trips of one operation (round-trips/op).

// flowAuth returns an Authenticator on a Store and Limiter of a prefix of
// their own, and the Store; hooks (a round-trip counter) watch the client.
func flowAuth(tb testing.TB, hooks ...redis.Hook) (*phoneauth.Authenticator, *Store) {
	tb.Helper()
	rdb, prefix := testClient(tb, hooks...)
	store := New(rdb, Options{Prefix: prefix})
	key, err := phoneauth.GenerateEd25519Key("bench")
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		tb.Fatal(err)
	}
	auth, err := phoneauth.New(phoneauth.Config{
		Store:       store,
		Limiter:     NewLimiter(rdb, Options{Prefix: prefix}),
		Sender:      phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "bench", nil }),
		Secret:      []byte(rand.Text() + rand.Text()),
		Tokens:      phoneauth.TokenConfig{Keys: keys},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Development: true, // the code comes back in the result
	})
	if err != nil {
		tb.Fatal(err)
	}
	return auth, store
}

// flowClients hands out a new client (phone, device, IP address) per flow.
type flowClients struct {
	base uint64
	next atomic.Uint64
}

func newFlowClients() *flowClients { return &flowClients{base: mrand.Uint64N(100_000_000)} }

// params returns the request of a new client: a Pakistani mobile number
// +92 30x xxxxxxx, a device id and an IPv4 address.
func (f *flowClients) params() phoneauth.RequestParams {
	n := f.next.Add(1)
	k := (f.base + n) % 100_000_000
	return phoneauth.RequestParams{
		Phone:    fmt.Sprintf("+9230%08d", k),
		DeviceID: fmt.Sprintf("bench-%d", k),
		IP:       fmt.Sprintf("10.%d.%d.%d", byte(n>>16), byte(n>>8), byte(n)),
	}
}

// flow is one client's sign-in: its request and the code it received.
type flow struct {
	p   phoneauth.RequestParams
	res phoneauth.RequestResult
}

// request asks auth for a code for a new client.
func (f *flowClients) request(ctx context.Context, auth *phoneauth.Authenticator) (flow, error) {
	p := f.params()
	res, err := auth.Request(ctx, p)
	return flow{p, res}, err
}

// verify signs the flow's client in.
func (fl flow) verify(ctx context.Context, auth *phoneauth.Authenticator) (phoneauth.SignIn, error) {
	return auth.Verify(ctx, phoneauth.VerifyParams{Phone: fl.p.Phone, Code: fl.res.Code, Device: phoneauth.Device{ID: fl.p.DeviceID}, IP: fl.p.IP})
}

// TestFlowRoundTrips counts the round trips to Redis of each Authenticator
// operation with the default limits, after a warm-up (the first run of a
// script costs an EVALSHA refused with NOSCRIPT, then an EVAL). The test
// fails if an operation costs more than these figures, which BENCHMARKS.md
// explains:
//
//	Request                   2  cooldown, IP, device and phone limits in one AllowAll
//	                             script (the global limit is off by default), PutChallenge
//	Verify, new user          6  failed-verify budget, AttemptChallenge, DeleteChallenge,
//	                             budget Reset, CreateUser (finds or creates), CreateSession
//	Verify, returning user    6  the same: CreateUser returns the existing user
//	Refresh                   1  RotateRefresh
//	Logout                    2  GetSession, DeleteSession
func TestFlowRoundTrips(t *testing.T) {
	var rt roundTrips
	auth, store := flowAuth(t, &rt)
	clients := newFlowClients()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Warm-up: every script is loaded.
	fl, err := clients.request(ctx, auth)
	must(err)
	in, err := fl.verify(ctx, auth)
	must(err)
	_, err = auth.Refresh(ctx, in.Tokens.RefreshToken)
	must(err)

	var returning flow
	for _, op := range []struct {
		name  string
		want  int64
		setup func()
		fn    func() error
	}{
		{"Request", 2, nil, func() (err error) { fl, err = clients.request(ctx, auth); return err }},
		{"Verify, new user", 6, nil, func() (err error) { in, err = fl.verify(ctx, auth); return err }},
		{"Refresh", 1, nil, func() (err error) { in, err = auth.Refresh(ctx, in.Tokens.RefreshToken); return err }},
		{"Logout", 2, nil, func() error { return auth.Logout(ctx, in.Tokens.RefreshToken) }},
		{"Verify, returning user", 6, func() {
			var err error
			returning, err = clients.request(ctx, auth)
			must(err)
			_, _, err = store.CreateUser(ctx, returning.p.Phone, nil)
			must(err)
		}, func() error { _, err := returning.verify(ctx, auth); return err }},
	} {
		if op.setup != nil {
			op.setup()
		}
		n := rt.count(func() { must(op.fn()) })
		t.Logf("%-24s %d round trips", op.name, n)
		if n > op.want {
			t.Errorf("%s: %d round trips, want at most %d", op.name, n, op.want)
		}
	}
}

// BenchmarkFlowRequest measures Authenticator.Request: limits, storing the
// challenge, rendering the message.
func BenchmarkFlowRequest(b *testing.B) {
	var rt roundTrips
	auth, _ := flowAuth(b, &rt)
	clients := newFlowClients()
	ctx := context.Background()
	benchFlow(b, &rt, func() error {
		_, err := clients.request(ctx, auth)
		return err
	})
}

// BenchmarkFlowVerify measures Authenticator.Verify of a new user's code:
// the codes are requested beforehand, outside the timer.
func BenchmarkFlowVerify(b *testing.B) {
	var rt roundTrips
	auth, _ := flowAuth(b, &rt)
	clients := newFlowClients()
	ctx := context.Background()
	var pending []flow
	var next atomic.Int64
	benchFlowSetup(b, &rt, func(n int) {
		pending = make([]flow, n)
		for i := range pending {
			var err error
			if pending[i], err = clients.request(ctx, auth); err != nil {
				b.Fatal(err)
			}
		}
		next.Store(0)
	}, func() error {
		_, err := pending[next.Add(1)-1].verify(ctx, auth)
		return err
	})
}

// BenchmarkFlowRefresh measures Authenticator.Refresh: each goroutine
// refreshes the tokens of a session of its own, signed in beforehand, each
// refresh presenting the token the previous one returned.
func BenchmarkFlowRefresh(b *testing.B) {
	var rt roundTrips
	auth, _ := flowAuth(b, &rt)
	clients := newFlowClients()
	ctx := context.Background()
	signIn := func() string {
		fl, err := clients.request(ctx, auth)
		if err == nil {
			var in phoneauth.SignIn
			if in, err = fl.verify(ctx, auth); err == nil {
				return in.Tokens.RefreshToken
			}
		}
		b.Fatal(err)
		return ""
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		token := signIn()
		before := rt.n.Load()
		b.ResetTimer()
		for range b.N {
			in, err := auth.Refresh(ctx, token)
			if err != nil {
				b.Fatal(err)
			}
			token = in.Tokens.RefreshToken
		}
		b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "round-trips/op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		tokens := make(chan string, 8*runtime.GOMAXPROCS(0))
		for range cap(tokens) {
			tokens <- signIn()
		}
		before := rt.n.Load()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			token := <-tokens
			for pb.Next() {
				in, err := auth.Refresh(ctx, token)
				if err != nil {
					b.Error(err)
					return
				}
				token = in.Tokens.RefreshToken
			}
		})
		b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "round-trips/op")
	})
}

// benchFlow runs op serially and from GOMAXPROCS×8 goroutines.
func benchFlow(b *testing.B, rt *roundTrips, op func() error) {
	benchFlowSetup(b, rt, func(int) {}, op)
}

// benchFlowSetup is benchFlow with a setup for n calls of op, run before
// the timer starts.
func benchFlowSetup(b *testing.B, rt *roundTrips, setup func(n int), op func() error) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		setup(b.N)
		before := rt.n.Load()
		b.ResetTimer()
		for range b.N {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "round-trips/op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		setup(b.N)
		before := rt.n.Load()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "round-trips/op")
	})
}
