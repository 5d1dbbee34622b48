package pgstore

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

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoneauth/phoneauth"
)

// The flow benchmarks and statement counts drive a real
// phoneauth.Authenticator on PostgreSQL (its Store, Users and Limiter) with
// the default limits, the system clock and a Sender that does nothing, so
// what they measure is phoneauth's own work plus PostgreSQL:
//
//	go test -run '^$' -bench Flow -benchtime 2s
//
// Every request is for a new phone, from a new device and address, so no
// limit refuses; every verification signs a new user in (UserByPhone, then
// CreateUser), as a load generator's flows do. Each benchmark reports the
// statements of one operation (statements/op); each is one round trip once
// pgx has prepared it on the connection.

// flowAuth returns an Authenticator on s and its Limiter.
func flowAuth(tb testing.TB, s *Store) *phoneauth.Authenticator {
	tb.Helper()
	key, err := phoneauth.GenerateEd25519Key("bench")
	must(tb, err)
	keys, err := phoneauth.NewKeySet(key)
	must(tb, err)
	auth, err := phoneauth.New(phoneauth.Config{
		Store:       s,
		Limiter:     s.Limiter(),
		Sender:      phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "bench", nil }),
		Secret:      []byte(rand.Text() + rand.Text()),
		Tokens:      phoneauth.TokenConfig{Keys: keys},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Development: true, // the code comes back in the result
	})
	must(tb, err)
	return auth
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
func (f *flowClients) request(auth *phoneauth.Authenticator) (flow, error) {
	p := f.params()
	res, err := auth.Request(ctx, p)
	return flow{p, res}, err
}

// verify signs the flow's client in.
func (fl flow) verify(auth *phoneauth.Authenticator) (phoneauth.SignIn, error) {
	return auth.Verify(ctx, phoneauth.VerifyParams{Phone: fl.p.Phone, Code: fl.res.Code, Device: phoneauth.Device{ID: fl.p.DeviceID}, IP: fl.p.IP})
}

// TestFlowStatements counts the statements each Authenticator operation
// sends with the default limits, on one connection after a warm-up (pgx
// prepares each statement once per connection), and checks that none is
// prepared any more: each statement is then one round trip. The test fails
// if an operation costs more than these figures, which BENCHMARKS.md
// explains:
//
//	Request                   2  the cooldown, IP, device and phone limits in one
//	                             Limiter.AllowAll (the global limit is off by
//	                             default), PutChallenge
//	Verify, new user          6  failed-verify budget, AttemptChallenge, DeleteChallenge,
//	                             budget Reset, CreateUser (finds or creates), CreateSession
//	Verify, returning user    6  the same: CreateUser returns the existing user
//	Refresh                   1  RotateRefresh
//	Logout                    2  GetSession, DeleteSession
func TestFlowStatements(t *testing.T) {
	var counter statementCounter
	shared := newTestStore(t, nil)
	cfg := shared.pool.Config().Copy()
	cfg.ConnConfig.Tracer = &counter
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	must(t, err)
	t.Cleanup(pool.Close)
	s, err := New(pool, Options{Schema: shared.Schema()})
	must(t, err)
	auth := flowAuth(t, s)
	clients := newFlowClients()

	// Warm-up: every statement is prepared on the connection.
	fl, err := clients.request(auth)
	must(t, err)
	in, err := fl.verify(auth)
	must(t, err)
	in, err = auth.Refresh(ctx, in.Tokens.RefreshToken)
	must(t, err)
	must(t, auth.Logout(ctx, in.Tokens.RefreshToken))
	prepared := counter.prepared.Load()

	var returning flow
	for _, op := range []struct {
		name  string
		want  int64
		setup func()
		fn    func() error
	}{
		{"Request", 2, nil, func() (err error) { fl, err = clients.request(auth); return err }},
		{"Verify, new user", 6, nil, func() (err error) { in, err = fl.verify(auth); return err }},
		{"Refresh", 1, nil, func() (err error) { in, err = auth.Refresh(ctx, in.Tokens.RefreshToken); return err }},
		{"Logout", 2, nil, func() error { return auth.Logout(ctx, in.Tokens.RefreshToken) }},
		{"Verify, returning user", 6, func() {
			var err error
			returning, err = clients.request(auth)
			must(t, err)
			_, _, err = shared.CreateUser(ctx, returning.p.Phone, nil)
			must(t, err)
		}, func() error { _, err := returning.verify(auth); return err }},
	} {
		if op.setup != nil {
			op.setup()
		}
		n := counter.count(func() { must(t, op.fn()) })
		t.Logf("%-24s %d statements", op.name, n)
		if n > op.want {
			t.Errorf("%s: %d statements, want at most %d", op.name, n, op.want)
		}
	}
	if p := counter.prepared.Load() - prepared; p != 0 {
		t.Errorf("%d statements prepared after the warm-up, want 0 (one round trip per statement)", p)
	}
}

// BenchmarkFlowRequest measures Authenticator.Request: limits, storing the
// challenge, rendering the message.
func BenchmarkFlowRequest(b *testing.B) {
	var counter statementCounter
	auth := flowAuth(b, newTestStore(b, &counter))
	clients := newFlowClients()
	benchFlow(b, &counter, func(int) {}, func() error {
		_, err := clients.request(auth)
		return err
	})
}

// BenchmarkFlowVerify measures Authenticator.Verify of a new user's code:
// the codes are requested beforehand, outside the timer.
func BenchmarkFlowVerify(b *testing.B) {
	var counter statementCounter
	auth := flowAuth(b, newTestStore(b, &counter))
	clients := newFlowClients()
	var pending []flow
	var next atomic.Int64
	benchFlow(b, &counter, func(n int) {
		pending = make([]flow, n)
		for i := range pending {
			var err error
			pending[i], err = clients.request(auth)
			must(b, err)
		}
		next.Store(0)
	}, func() error {
		_, err := pending[next.Add(1)-1].verify(auth)
		return err
	})
}

// BenchmarkFlowRefresh measures Authenticator.Refresh: each goroutine
// refreshes the tokens of a session of its own, signed in beforehand, each
// refresh presenting the token the previous one returned.
func BenchmarkFlowRefresh(b *testing.B) {
	var counter statementCounter
	auth := flowAuth(b, newTestStore(b, &counter))
	clients := newFlowClients()
	signIn := func() string {
		fl, err := clients.request(auth)
		must(b, err)
		in, err := fl.verify(auth)
		must(b, err)
		return in.Tokens.RefreshToken
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		token := signIn()
		before := counter.n.Load()
		b.ResetTimer()
		for range b.N {
			in, err := auth.Refresh(ctx, token)
			must(b, err)
			token = in.Tokens.RefreshToken
		}
		b.ReportMetric(float64(counter.n.Load()-before)/float64(b.N), "statements/op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		tokens := make(chan string, 8*runtime.GOMAXPROCS(0))
		for range cap(tokens) {
			tokens <- signIn()
		}
		before := counter.n.Load()
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
		b.ReportMetric(float64(counter.n.Load()-before)/float64(b.N), "statements/op")
	})
}

// benchFlow runs op serially and from GOMAXPROCS×8 goroutines, after a
// setup for n calls of op that runs before the timer starts.
func benchFlow(b *testing.B, counter *statementCounter, setup func(n int), op func() error) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		setup(b.N)
		before := counter.n.Load()
		b.ResetTimer()
		for range b.N {
			must(b, op())
		}
		b.ReportMetric(float64(counter.n.Load()-before)/float64(b.N), "statements/op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		setup(b.N)
		before := counter.n.Load()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(counter.n.Load()-before)/float64(b.N), "statements/op")
	})
}
