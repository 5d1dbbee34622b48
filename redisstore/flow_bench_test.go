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
//	Request                   1  the Store's IssueChallenge: the cooldown, address,
//	                             device, phone and range limits and the challenge in
//	                             one script ({P:l}, which challenges share)
//	Verify, new user          3  VerifyChallenge: one script for the per-address limit,
//	                             the attempt, the failed-verify budget, the consume, the
//	                             budget reset and the guard credit ({P:l}); one for the
//	                             user and the session index ({P:u}); createSession
//	Verify, returning user    3  the same: the existing user is found
//	Refresh                   2  RefreshSession: the per-address limit ({P:l}), then
//	                             RotateRefresh ({P:s:ID})
//	Logout                    2  GetSession, DeleteSession
//
// None of these is a pipeline, so they are also the commands sent
// (TestFlowCommands): 4 per sign-in.
func TestFlowRoundTrips(t *testing.T) {
	var rt roundTrips
	flows := newFlows(t, &rt)
	flows.WarmUp(t) // every script is loaded
	flows.CheckCosts(t, storetest.FlowCosts{Request: 1, VerifyNewUser: 3, VerifyReturningUser: 3, Refresh: 2, Logout: 2})
}

// TestFlowCommands counts the commands sent (each command of a pipeline or
// MULTI/EXEC counted, a script once): a sign-in, request and verification,
// sends 4.
func TestFlowCommands(t *testing.T) {
	var rt roundTrips
	rdb, prefix := testClient(t, &rt)
	flows := storetest.NewFlows(t, New(rdb, Options{Prefix: prefix}), NewLimiter(rdb, Options{Prefix: prefix}), rt.cmds.Load, "commands")
	flows.WarmUp(t)
	flows.CheckCosts(t, storetest.FlowCosts{Request: 1, VerifyNewUser: 3, VerifyReturningUser: 3, Refresh: 2, Logout: 5})
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
