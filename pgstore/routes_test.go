package pgstore

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// verifyRoute returns the VerifyChallenge of c with the code hash typed and
// a failed-verify budget of two events an hour on budgetKey.
func verifyRoute(c phoneauth.Challenge, typed []byte, budgetKey string, now time.Time) phoneauth.VerifyRoute {
	return phoneauth.VerifyRoute{
		Key: c.Key, ID: c.ID, Now: now,
		Budget:     phoneauth.LimitCheck{Key: budgetKey, Limit: phoneauth.Limit{Events: 2, Per: time.Hour}},
		CodeHashes: [][]byte{typed},
		Signup:     phoneauth.SignupAllowed,
		Session:    newSession(now),
	}
}

// attempts returns the attempts of the challenge stored under key.
func attempts(t *testing.T, s *Store, key string) int {
	t.Helper()
	c, err := s.GetChallenge(ctx, key, t0)
	must(t, err)
	return c.Attempts
}

// The failed-verify budget with the right code: a partly spent budget lets
// it in and is forgotten (its row deleted); a spent one refuses it, counts
// the attempt and leaves the budget and the code as they were; a wrong code
// spends the budget.
func TestVerifyChallengeBudget(t *testing.T) {
	s := newTestStore(t, nil)
	budget := "verify-budget:" + rand.Text()
	c := newChallenge(t0)
	c.MaxAttempts, c.ExpiresAt = 5, t0.Add(time.Hour)
	must(t, s.PutChallenge(ctx, c))

	out, err := s.VerifyChallenge(ctx, verifyRoute(c, randomHash(), budget, t0))
	must(t, err)
	if out.Result != phoneauth.VerifyWrongCode || out.Challenge.Attempts != 1 || attempts(t, s, c.Key) != 1 {
		t.Fatalf("wrong code: result %v, attempts %d; want VerifyWrongCode, 1 attempt stored", out.Result, out.Challenge.Attempts)
	}
	if tats := bucketTats(t, s, budget); len(tats) != 1 {
		t.Fatalf("after a wrong code the budget has rows %v, want one", tats)
	}

	// The second wrong code spends the budget: the right one is refused.
	_, err = s.VerifyChallenge(ctx, verifyRoute(c, randomHash(), budget, t0))
	must(t, err)
	spent := bucketTats(t, s, budget)
	out, err = s.VerifyChallenge(ctx, verifyRoute(c, c.CodeHash, budget, t0))
	must(t, err)
	if out.Result != phoneauth.VerifyRefused || out.Refused != 0 || out.RetryAfter != 30*time.Minute {
		t.Fatalf("right code on a spent budget: result %v, refused %d, retry %s; want VerifyRefused by the budget (0) for 30m",
			out.Result, out.Refused, out.RetryAfter)
	}
	if n := attempts(t, s, c.Key); n != 3 {
		t.Fatalf("after the refused right code the challenge has %d attempts, want 3 (counted)", n)
	}
	if after := bucketTats(t, s, budget); after[budget] != spent[budget] {
		t.Fatalf("the refusal changed the budget: tat %d, was %d", after[budget], spent[budget])
	}

	// Half an hour on, one event is back: the right code signs in and the
	// budget is forgotten.
	later := t0.Add(30 * time.Minute)
	out, err = s.VerifyChallenge(ctx, verifyRoute(c, c.CodeHash, budget, later))
	must(t, err)
	if out.Result != phoneauth.VerifySignedIn || out.Challenge.Attempts != 4 {
		t.Fatalf("right code on a budget with one event: result %v, attempts %d; want VerifySignedIn, 4", out.Result, out.Challenge.Attempts)
	}
	if tats := bucketTats(t, s, budget); len(tats) != 0 {
		t.Fatalf("after the sign-in the budget has rows %v, want none", tats)
	}
	if _, err := s.GetChallenge(ctx, c.Key, later); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Fatalf("GetChallenge after the sign-in: %v, want ErrNotFound (consumed)", err)
	}

	// The right code on a budget never spent signs in without a row.
	c = newChallenge(t0)
	must(t, s.PutChallenge(ctx, c))
	out, err = s.VerifyChallenge(ctx, verifyRoute(c, c.CodeHash, budget, t0))
	must(t, err)
	if out.Result != phoneauth.VerifySignedIn || len(bucketTats(t, s, budget)) != 0 {
		t.Fatalf("right code on a fresh budget: result %v, budget rows %v; want VerifySignedIn and none", out.Result, bucketTats(t, s, budget))
	}
}

// A sign-in of an existing user returns it without writing its row: the
// row's version (xmin) stays the same.
func TestVerifyChallengeExistingUserNotRewritten(t *testing.T) {
	s := newTestStore(t, nil)
	phone := "+999" + rand.Text()[:11]
	version := func() (id, xmin string) {
		t.Helper()
		err := s.pool.QueryRow(ctx, "SELECT id, xmin::text FROM "+s.table("users")+" WHERE phone = $1", phone).Scan(&id, &xmin)
		must(t, err)
		return id, xmin
	}
	signIn := func() phoneauth.VerifyOutcome {
		t.Helper()
		c := newChallenge(t0)
		c.Phone = phone
		must(t, s.PutChallenge(ctx, c))
		out, err := s.VerifyChallenge(ctx, verifyRoute(c, c.CodeHash, "", t0))
		must(t, err)
		if out.Result != phoneauth.VerifySignedIn {
			t.Fatalf("sign-in: result %v, want VerifySignedIn", out.Result)
		}
		return out
	}
	first := signIn()
	id, xmin := version()
	if !first.IsNewUser || first.User.ID != id {
		t.Fatalf("first sign-in: new %v, user %q; want a new user %q", first.IsNewUser, first.User.ID, id)
	}
	second := signIn()
	if second.IsNewUser || second.User != first.User || second.Session.UserID != id {
		t.Fatalf("second sign-in: new %v, user %+v, session's user %q; want the user %+v", second.IsNewUser, second.User, second.Session.UserID, first.User)
	}
	if _, again := version(); again != xmin {
		t.Fatalf("the second sign-in rewrote the user's row: xmin %s, was %s", again, xmin)
	}
	sessions, err := s.ListSessions(ctx, id, t0)
	must(t, err)
	if len(sessions) != 2 {
		t.Fatalf("the user has %d sessions, want 2", len(sessions))
	}
}
