package storetest

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
)

// Flows drives a real phoneauth.Authenticator on a backend to count and time
// what each operation costs it: how many calls (round trips, statements)
// each makes, checked by CheckCosts, and how fast the operations run,
// measured by its Benchmark methods. The Authenticator has the default
// limits, the system clock and a Sender that does nothing, so what it
// measures is phoneauth's own work plus the backend's. Every request is for
// a new client (phone, device, IP address), so no limit refuses, and every
// verification signs a new user in, as a load generator's flows do.
//
// In a _test.go file of your backend, with a driver hook that counts calls:
//
//	func TestFlowCosts(t *testing.T) {
//		f := storetest.NewFlows(t, store, limiter, calls.Load, "round-trips")
//		f.WarmUp(t)
//		f.CheckCosts(t, storetest.FlowCosts{Request: 2, VerifyNewUser: 7, VerifyReturningUser: 7, Refresh: 2, Logout: 2})
//	}
//
//	func BenchmarkFlowRequest(b *testing.B) {
//		storetest.NewFlows(b, store, limiter, calls.Load, "round-trips").BenchmarkRequest(b)
//	}
type Flows struct {
	auth  *phoneauth.Authenticator
	users phoneauth.Users
	count func() int64
	unit  string
	base  uint64        // of this Flows' phone numbers
	next  atomic.Uint64 // the last client handed out
}

// FlowCosts are the most backend calls each operation may make.
type FlowCosts struct {
	Request             int64 // a code request: the limits and storing the challenge
	VerifyNewUser       int64 // a verification that signs a new user up
	VerifyReturningUser int64 // of a phone that has a user already
	Refresh             int64 // a refresh-token rotation
	Logout              int64 // a logout by refresh token
}

// NewFlows returns Flows on store and limiter. Users are the store's if it
// implements phoneauth.Users, else an in-memory one. count returns the
// number of calls made to the backend so far (from a driver hook; nil
// counts nothing) and unit names them in benchmark results, as in
// "statements" or "round-trips".
func NewFlows(tb testing.TB, store phoneauth.Store, limiter phoneauth.Limiter, count func() int64, unit string) *Flows {
	tb.Helper()
	users, ok := store.(phoneauth.Users)
	if !ok {
		users = phoneauth.NewMemoryStore()
	}
	if count == nil {
		count = func() int64 { return 0 }
	}
	key, err := phoneauth.GenerateEd25519Key("flows")
	noErr(tb, "GenerateEd25519Key", err)
	keys, err := phoneauth.NewKeySet(key)
	noErr(tb, "NewKeySet", err)
	auth, err := phoneauth.New(phoneauth.Config{
		Store:       store,
		Users:       users,
		Limiter:     limiter,
		Sender:      phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "flows", nil }),
		Secret:      []byte(rand.Text() + rand.Text()),
		Tokens:      phoneauth.TokenConfig{Keys: keys},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Development: true, // the code comes back in the result
		// Benchmarks send more codes than the default global budget
		// allows in an hour.
		Limits: phoneauth.Limits{Global: phoneauth.Unlimited},
	})
	noErr(tb, "phoneauth.New", err)
	return &Flows{auth: auth, users: users, count: count, unit: unit, base: mrand.Uint64N(100_000_000)}
}

// flow is one client's sign-in: its request and the code it received.
type flow struct {
	p   phoneauth.RequestParams
	res phoneauth.RequestResult
}

// phoneStride is coprime with 100,000,000: the phones of consecutive
// clients run through every number before one repeats, and are 1,000
// ranges of 1,000 numbers apart, so that the limits per number range and
// the conversion guard, which a benchmark's thousands of clients in one
// range would trip, stay out of the measurement as they would for real
// clients.
const phoneStride = 1_000_003

// request asks for a code for a new client: a Pakistani mobile number
// +92 30x xxxxxxx, a device id and an IPv4 address.
func (f *Flows) request() (flow, error) {
	n := f.next.Add(1)
	k := (f.base + n*phoneStride) % 100_000_000
	p := phoneauth.RequestParams{
		Phone:    fmt.Sprintf("+9230%08d", k),
		DeviceID: fmt.Sprintf("flows-%d", k),
		IP:       fmt.Sprintf("10.%d.%d.%d", byte(n>>16), byte(n>>8), byte(n)),
	}
	res, err := f.auth.Request(ctx, p)
	return flow{p, res}, err
}

// clientIP returns the address of a new client.
func (f *Flows) clientIP() string {
	n := f.next.Add(1)
	return fmt.Sprintf("10.%d.%d.%d", byte(n>>16), byte(n>>8), byte(n))
}

// verify signs the flow's client in.
func (f *Flows) verify(fl flow) (phoneauth.SignIn, error) {
	return f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: fl.p.Phone, Code: fl.res.Code, Device: phoneauth.Device{ID: fl.p.DeviceID}, IP: fl.p.IP})
}

// signIn signs a new client in and returns its refresh token.
func (f *Flows) signIn(tb testing.TB) string {
	fl, err := f.request()
	noErr(tb, "Request", err)
	in, err := f.verify(fl)
	noErr(tb, "Verify", err)
	return in.Tokens.RefreshToken
}

// WarmUp runs every operation once, so that what a backend does only the
// first time (loading a script, preparing a statement) is done before
// CheckCosts counts.
func (f *Flows) WarmUp(tb testing.TB) {
	tb.Helper()
	in, err := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: f.signIn(tb), IP: f.clientIP()})
	noErr(tb, "Refresh", err)
	noErr(tb, "Logout", f.auth.Logout(ctx, in.Tokens.RefreshToken))
	fl, err := f.request()
	noErr(tb, "Request", err)
	_, _, err = f.users.CreateUser(ctx, fl.p.Phone, nil) // as CheckCosts's returning user
	noErr(tb, "CreateUser", err)
}

// CheckCosts runs each operation once and fails t if it makes more backend
// calls than max allows. It logs each count.
func (f *Flows) CheckCosts(t *testing.T, max FlowCosts) {
	t.Helper()
	var (
		fl, returning flow
		in            phoneauth.SignIn
		err           error
	)
	for _, op := range []struct {
		name  string
		max   int64
		setup func()
		fn    func() error
	}{
		{"Request", max.Request, nil, func() (err error) { fl, err = f.request(); return err }},
		{"Verify, new user", max.VerifyNewUser, nil, func() (err error) { in, err = f.verify(fl); return err }},
		{"Refresh", max.Refresh, nil, func() (err error) {
			in, err = f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: f.clientIP()})
			return err
		}},
		{"Logout", max.Logout, nil, func() error { return f.auth.Logout(ctx, in.Tokens.RefreshToken) }},
		{"Verify, returning user", max.VerifyReturningUser, func() {
			returning, err = f.request()
			noErr(t, "Request", err)
			_, _, err = f.users.CreateUser(ctx, returning.p.Phone, nil)
			noErr(t, "CreateUser", err)
		}, func() error { _, err := f.verify(returning); return err }},
	} {
		if op.setup != nil {
			op.setup()
		}
		before := f.count()
		noErr(t, op.name, op.fn())
		n := f.count() - before
		t.Logf("%-24s %d %s", op.name, n, f.unit)
		if n > op.max {
			t.Errorf("%s: %d %s, want at most %d", op.name, n, f.unit, op.max)
		}
	}
}

// BenchmarkRequest measures Request: the limits, storing the challenge,
// rendering the message.
func (f *Flows) BenchmarkRequest(b *testing.B) {
	f.bench(b, func(int) {}, func() error {
		_, err := f.request()
		return err
	})
}

// BenchmarkVerify measures Verify of a new user's code; the codes are
// requested beforehand, outside the timer.
func (f *Flows) BenchmarkVerify(b *testing.B) {
	var pending []flow
	var next atomic.Int64
	f.bench(b, func(n int) {
		pending = make([]flow, n)
		for i := range pending {
			var err error
			pending[i], err = f.request()
			noErr(b, "Request", err)
		}
		next.Store(0)
	}, func() error {
		_, err := f.verify(pending[next.Add(1)-1])
		return err
	})
}

// BenchmarkRefresh measures Refresh of sessions signed in beforehand: each
// refresh takes a session's latest token from the pool and puts back the
// one it got, so no two refreshes of one session overlap.
func (f *Flows) BenchmarkRefresh(b *testing.B) {
	var tokens chan string
	f.bench(b, func(int) {
		tokens = make(chan string, 8*runtime.GOMAXPROCS(0))
		for range cap(tokens) {
			tokens <- f.signIn(b)
		}
	}, func() error {
		token := <-tokens
		in, err := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: token, IP: f.clientIP()})
		if err == nil {
			token = in.Tokens.RefreshToken
		}
		tokens <- token
		return err
	})
}

// bench runs op serially and from GOMAXPROCS×8 goroutines, after a setup
// for n calls of op that runs before the timer starts, and reports the
// backend calls per op.
func (f *Flows) bench(b *testing.B, setup func(n int), op func() error) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		setup(b.N)
		before := f.count()
		b.ResetTimer()
		for range b.N {
			noErr(b, "op", op())
		}
		b.ReportMetric(float64(f.count()-before)/float64(b.N), f.unit+"/op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		setup(b.N)
		before := f.count()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(f.count()-before)/float64(b.N), f.unit+"/op")
	})
}
