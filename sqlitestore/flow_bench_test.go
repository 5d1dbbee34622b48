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
// BEGIN and COMMIT included; concurrent writes share a BEGIN and a COMMIT,
// so the parallel figures are lower.

// newFlows returns Flows on a Store on a new file, counting statements.
func newFlows(tb testing.TB) *storetest.Flows {
	s := openStore(tb, newFile(tb), Options{})
	return storetest.NewFlows(tb, s, s.Limiter(), s.statements.Load, "statements")
}

// TestFlowStatements counts the statements each Authenticator operation
// runs with the default limits, and fails if an operation costs more than
// these figures, which BENCHMARKS.md explains. A statement is a call of a
// prepared statement in the process, not a round trip; each write is a
// BEGIN IMMEDIATE … COMMIT of its own when the operations run one at a
// time (concurrent writes share one):
//
//	Request                  17  the cooldown, address, phone, number-range and
//	                             conversion-guard limits in one Limiter.AllowAll
//	                             (BEGIN, a SELECT and an upsert per bucket, COMMIT;
//	                             the flows turn Global, and with it the country
//	                             limits, off), PutChallenge (BEGIN, upsert, COMMIT)
//	Verify, new user         24  per-address limit (4), failed-verify budget (4),
//	                             then 3 each for AttemptChallenge, DeleteChallenge,
//	                             CreateUser, CreateSession, and 4 for one RefundAll
//	                             (budget reset and the guard's refund of the range)
//	Verify, returning user   24  the same: CreateUser returns the existing user
//	Refresh                   9  per-address limit (4), RotateRefresh: BEGIN, SELECT,
//	                             INSERT of the past token, UPDATE, COMMIT
//	Logout                    4  GetSession (a read), DeleteSession (3)
func TestFlowStatements(t *testing.T) {
	flows := newFlows(t)
	flows.WarmUp(t)
	flows.CheckCosts(t, storetest.FlowCosts{Request: 17, VerifyNewUser: 24, VerifyReturningUser: 24, Refresh: 9, Logout: 4})
}

// TestFlowCommits counts the transactions each operation commits when
// operations run one at a time: each is one fsync of the write-ahead log
// with synchronous FULL, and what bounds a single client's rate.
// Concurrent writes share commits (group commit).
func TestFlowCommits(t *testing.T) {
	s := openStore(t, newFile(t), Options{})
	flows := storetest.NewFlows(t, s, s.Limiter(), s.commits.Load, "commits")
	flows.WarmUp(t)
	flows.CheckCosts(t, storetest.FlowCosts{Request: 2, VerifyNewUser: 7, VerifyReturningUser: 7, Refresh: 2, Logout: 1})
}

func BenchmarkFlowRequest(b *testing.B) { newFlows(b).BenchmarkRequest(b) }

func BenchmarkFlowVerify(b *testing.B) { newFlows(b).BenchmarkVerify(b) }

func BenchmarkFlowRefresh(b *testing.B) { newFlows(b).BenchmarkRefresh(b) }
