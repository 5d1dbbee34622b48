package pgstore

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoneauth/phoneauth/storetest"
)

// The flow benchmarks and statement counts drive a real
// phoneauth.Authenticator on PostgreSQL (its Store, Users and Limiter) with
// storetest.Flows: the default limits, a new client per flow, a Sender that
// does nothing.
//
//	go test -run '^$' -bench Flow -benchtime 2s
//
// Each benchmark reports the statements of one operation (statements/op);
// each is one round trip once pgx has prepared it on the connection.

// newFlows returns Flows on a store whose statements counter counts.
func newFlows(tb testing.TB, counter *statementCounter) *storetest.Flows {
	s := newTestStore(tb, counter)
	return storetest.NewFlows(tb, s, s.Limiter(), counter.n.Load, "statements")
}

// TestFlowStatements counts the statements each Authenticator operation
// sends with the default limits, on one connection after a warm-up (pgx
// prepares each statement once per connection), and checks that none is
// prepared any more: each statement is then one round trip. The test fails
// if an operation costs more than these figures, which BENCHMARKS.md
// explains:
//
//	Request                   1  the Store's IssueChallenge: the cooldown, address,
//	                             device, phone and range limits (limiter_allow_all)
//	                             and the challenge, in one statement
//	Verify, new user          1  VerifyChallenge: verify_challenge (migration 3) does the
//	                             per-address limit, the attempt, the failed-verify
//	                             budget, the consume, the budget reset, the guard
//	                             credit, the user and the session in one transaction
//	Verify, returning user    1  the same: the existing user is found
//	Refresh                   1  RefreshSession: the per-address limit and the rotation
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
	flows := storetest.NewFlows(t, s, s.Limiter(), counter.n.Load, "statements")

	flows.WarmUp(t) // every statement is prepared on the connection
	prepared := counter.prepared.Load()
	flows.CheckCosts(t, storetest.FlowCosts{Request: 1, VerifyNewUser: 1, VerifyReturningUser: 1, Refresh: 1, Logout: 2})
	if p := counter.prepared.Load() - prepared; p != 0 {
		t.Errorf("%d statements prepared after the warm-up, want 0 (one round trip per statement)", p)
	}
}

func BenchmarkFlowRequest(b *testing.B) {
	var counter statementCounter
	newFlows(b, &counter).BenchmarkRequest(b)
}

func BenchmarkFlowVerify(b *testing.B) {
	var counter statementCounter
	newFlows(b, &counter).BenchmarkVerify(b)
}

func BenchmarkFlowRefresh(b *testing.B) {
	var counter statementCounter
	newFlows(b, &counter).BenchmarkRefresh(b)
}
