package sqlitestore

import (
	"testing"

	"github.com/phoneauth/phoneauth/storetest"
)

// The flow benchmarks and statement counts drive a real
// phoneauth.Authenticator on a SQLite file (its Store, Users and Limiter)
// with storetest.Flows: the default limits, a new client per flow, a Sender
// that does nothing. The file is in the test's temporary directory, with
// the default, durable settings (synchronous FULL: every write transaction
// waits for its fsync).
//
//	go test -run '^$' -bench Flow -benchtime 2s
//
// Each benchmark reports the statements of one operation (statements/op),
// BEGIN and COMMIT included; a statement is a call into SQLite in the
// process, not a round trip.

// newFlows returns Flows on a Store on a new file.
func newFlows(tb testing.TB) *storetest.Flows {
	s := openStore(tb, newFile(tb), Options{})
	return storetest.NewFlows(tb, s, s.Limiter(), s.statements.Load, "statements")
}

// TestFlowStatements counts the statements each Authenticator operation
// runs with the default limits, and fails if an operation costs more than
// these figures, which BENCHMARKS.md explains:
//
//	Request                   5  the cooldown, IP, device and phone limits in one
//	                             Limiter.AllowAll (BEGIN IMMEDIATE, SELECT, upsert,
//	                             COMMIT), PutChallenge
//	Verify, new user          9  failed-verify budget (4, as above), AttemptChallenge,
//	                             DeleteChallenge, budget Reset, CreateUser, CreateSession
//	Verify, returning user    9  the same: CreateUser returns the existing user
//	Refresh                   5  RotateRefresh: BEGIN IMMEDIATE, SELECT, INSERT of the
//	                             past token, UPDATE, COMMIT
//	Logout                    2  GetSession, DeleteSession
//
// Write transactions (one fsync each with synchronous FULL): Request 2,
// Verify 6, Refresh 1, Logout 1.
func TestFlowStatements(t *testing.T) {
	flows := newFlows(t)
	flows.WarmUp(t)
	flows.CheckCosts(t, storetest.FlowCosts{Request: 5, VerifyNewUser: 9, VerifyReturningUser: 9, Refresh: 5, Logout: 2})
}

func BenchmarkFlowRequest(b *testing.B) { newFlows(b).BenchmarkRequest(b) }

func BenchmarkFlowVerify(b *testing.B) { newFlows(b).BenchmarkVerify(b) }

func BenchmarkFlowRefresh(b *testing.B) { newFlows(b).BenchmarkRefresh(b) }
