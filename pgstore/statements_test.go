package pgstore

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoneauth/phoneauth"
)

// TestStatementsPerOperation counts the statements each operation sends
// (a pgx tracer on the pool): one each, a Limiter.AllowAll of several
// limits included, two for the Store's part of a verification
// (AttemptChallenge, then DeleteChallenge), none for limits decided
// without the database, and, once pgx has prepared them on the connection,
// no other round trip.
func TestStatementsPerOperation(t *testing.T) {
	var counter statementCounter
	shared := newTestStore(t, nil)
	cfg := shared.pool.Config().Copy()
	cfg.ConnConfig.Tracer = &counter
	cfg.MaxConns = 1 // one connection: prepared once, then cached
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	must(t, err)
	t.Cleanup(pool.Close)
	s, err := New(pool, Options{Schema: shared.Schema()})
	must(t, err)
	lim := s.Limiter()
	limit := phoneauth.Limit{Events: 2, Per: time.Minute}

	// Each op runs twice: once to warm the connection up, once counted.
	// setup prepares its state through another pool, not counted.
	type op struct {
		name  string
		want  int64
		setup func(t *testing.T)
		fn    func(t *testing.T)
	}
	var c phoneauth.Challenge
	var sess phoneauth.Session
	var user phoneauth.User
	var old []byte
	newC := func(t *testing.T) { c = newChallenge(t0); must(t, shared.PutChallenge(ctx, c)) }
	newS := func(t *testing.T) { sess = newSession(t0); must(t, shared.CreateSession(ctx, sess)) }
	newU := func(t *testing.T) {
		var err error
		user, _, err = shared.CreateUser(ctx, "+999"+rand.Text()[:11], nil)
		must(t, err)
	}
	nothing := func(*testing.T) {}
	ops := []op{
		{"PutChallenge", 1, nothing, func(t *testing.T) { must(t, s.PutChallenge(ctx, newChallenge(t0))) }},
		{"GetChallenge", 1, newC, func(t *testing.T) { _, err := s.GetChallenge(ctx, c.Key, t0); must(t, err) }},
		{"AttemptChallenge", 1, newC, func(t *testing.T) { _, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0); must(t, err) }},
		{"DeleteChallenge", 1, newC, func(t *testing.T) { must(t, s.DeleteChallenge(ctx, c.Key, c.ID)) }},
		{"Verify: AttemptChallenge+DeleteChallenge", 2, newC, func(t *testing.T) {
			_, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0)
			must(t, err)
			must(t, s.DeleteChallenge(ctx, c.Key, c.ID))
		}},
		{"CreateSession", 1, nothing, func(t *testing.T) { must(t, s.CreateSession(ctx, newSession(t0))) }},
		{"GetSession", 1, newS, func(t *testing.T) { _, err := s.GetSession(ctx, sess.ID, t0); must(t, err) }},
		{"RotateRefresh", 1, newS, func(t *testing.T) {
			_, _, err := rotate(s, sess.ID, sess.RefreshHash, t0, 0)
			must(t, err)
		}},
		{"RotateRefresh of a reused token", 1, func(t *testing.T) {
			newS(t)
			old = sess.RefreshHash
			_, _, err := rotate(shared, sess.ID, old, t0, 0)
			must(t, err)
		}, func(t *testing.T) {
			_, _, err := rotate(s, sess.ID, old, t0, 0)
			wantErr(t, "reuse", err, phoneauth.ErrTokenReused)
		}},
		{"ListSessions", 1, newS, func(t *testing.T) { _, err := s.ListSessions(ctx, sess.UserID, t0); must(t, err) }},
		{"DeleteSession", 1, newS, func(t *testing.T) { must(t, s.DeleteSession(ctx, sess.ID)) }},
		{"CreateUser", 1, nothing, func(t *testing.T) {
			_, _, err := s.CreateUser(ctx, "+999"+rand.Text()[:11], nil)
			must(t, err)
		}},
		{"UserByPhone", 1, newU, func(t *testing.T) { _, err := s.UserByPhone(ctx, user.Phone); must(t, err) }},
		{"SetPhone", 1, newU, func(t *testing.T) { must(t, s.SetPhone(ctx, user.ID, "+999"+rand.Text()[:11])) }},
		{"Limiter.Allow", 1, nothing, func(t *testing.T) {
			_, _, err := lim.Allow(ctx, "count:"+rand.Text(), limit, t0)
			must(t, err)
		}},
		{"Limiter.Allow of an Unlimited limit", 0, nothing, func(t *testing.T) {
			_, _, err := lim.Allow(ctx, "count:"+rand.Text(), phoneauth.Unlimited, t0)
			must(t, err)
		}},
		{"Limiter.AllowAll of a request's four limits", 1, nothing, func(t *testing.T) {
			k := "count:" + rand.Text()
			checks := []phoneauth.LimitCheck{{Key: k + ":1", Limit: limit}, {Key: k + ":2", Limit: limit}, {Key: k + ":3", Limit: limit}, {Key: k + ":4", Limit: limit}}
			_, _, err := lim.AllowAll(ctx, checks, t0)
			must(t, err)
		}},
		{"Limiter.AllowAll of Unlimited limits", 0, nothing, func(t *testing.T) {
			_, _, err := lim.AllowAll(ctx, []phoneauth.LimitCheck{{Key: "count:" + rand.Text(), Limit: phoneauth.Unlimited}}, t0)
			must(t, err)
		}},
		{"Limiter.AllowAll refused by a limit of zero events", 0, nothing, func(t *testing.T) {
			checks := []phoneauth.LimitCheck{{Key: "count:" + rand.Text(), Limit: limit}, {Key: "count:" + rand.Text(), Limit: phoneauth.Limit{Per: time.Minute}}}
			_, _, err := lim.AllowAll(ctx, checks, t0)
			must(t, err)
		}},
		{"Limiter.Refund", 1, nothing, func(t *testing.T) { must(t, lim.Refund(ctx, "count:"+rand.Text(), limit, t0)) }},
		{"Limiter.Reset", 1, nothing, func(t *testing.T) { must(t, lim.Reset(ctx, "count:"+rand.Text())) }},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			o.setup(t)
			o.fn(t) // warm-up: pgx prepares the statements on the connection
			o.setup(t)
			prepared := counter.prepared.Load()
			if n := counter.count(func() { o.fn(t) }); n != o.want {
				t.Errorf("%s sent %d statements, want %d", o.name, n, o.want)
			}
			if p := counter.prepared.Load() - prepared; p != 0 {
				t.Errorf("%s prepared %d statements after warm-up, want 0 (one round trip per statement)", o.name, p)
			}
		})
	}
	if counter.prepared.Load() == 0 {
		t.Error("the tracer saw no statement prepared: the round-trip checks checked nothing")
	}
}
