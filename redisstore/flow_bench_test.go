package redisstore

import (
	"testing"

	"github.com/phoneauth/phoneauth/storetest"
)

// The flow benchmarks and round-trip counts drive a real
// phoneauth.Authenticator on Redis (its Store, Users and Limiter) with
// storetest.Flows: the default limits, a new client per flow, a Sender that
// does nothing.
//
//	go test -run '^$' -bench Flow -benchtime 2s
//
// Each benchmark reports the round trips of one operation (round-trips/op).

// newFlows returns Flows on a Store and Limiter of a prefix of their own,
// whose client rt watches.
func newFlows(tb testing.TB, rt *roundTrips) *storetest.Flows {
	rdb, prefix := testClient(tb, rt)
	return storetest.NewFlows(tb, New(rdb, Options{Prefix: prefix}), NewLimiter(rdb, Options{Prefix: prefix}), rt.n.Load, "round-trips")
}

// TestFlowRoundTrips counts the round trips to Redis of each Authenticator
// operation with the default limits, after a warm-up (the first run of a
// script costs an EVALSHA refused with NOSCRIPT, then an EVAL). The test
// fails if an operation costs more than these figures, which BENCHMARKS.md
// explains:
//
//	Request                   2  cooldown, IP, device and phone limits in one AllowAll
//	                             script (the global limit is off by default), PutChallenge
//	Verify, new user          7  per-address limit (its /32 or /64, /56, /48 in one call),
//	                             AttemptChallenge, failed-verify budget, DeleteChallenge,
//	                             budget Reset, CreateUser (finds or creates), CreateSession
//	Verify, returning user    7  the same: CreateUser returns the existing user
//	Refresh                   2  per-address limit, RotateRefresh
//	Logout                    2  GetSession, DeleteSession
func TestFlowRoundTrips(t *testing.T) {
	var rt roundTrips
	flows := newFlows(t, &rt)
	flows.WarmUp(t) // every script is loaded
	flows.CheckCosts(t, storetest.FlowCosts{Request: 1, VerifyNewUser: 3, VerifyReturningUser: 3, Refresh: 2, Logout: 2})
}

func BenchmarkFlowRequest(b *testing.B) {
	var rt roundTrips
	newFlows(b, &rt).BenchmarkRequest(b)
}

func BenchmarkFlowVerify(b *testing.B) {
	var rt roundTrips
	newFlows(b, &rt).BenchmarkVerify(b)
}

func BenchmarkFlowRefresh(b *testing.B) {
	var rt roundTrips
	newFlows(b, &rt).BenchmarkRefresh(b)
}
