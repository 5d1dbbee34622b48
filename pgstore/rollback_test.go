package pgstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// A route call that fails in its last step has changed nothing: it is one
// transaction. Here the session of a verification with the right code
// cannot be created (its id is taken): the call fails, and the attempt,
// the consume, the user, the address limit's event and the budget's are
// all rolled back, so the same verification with another session id then
// signs in.
func TestVerifyChallengeFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, nil)
	c := newChallenge(t0)
	must(t, s.PutChallenge(ctx, c))
	taken := newSession(t0)
	must(t, s.CreateSession(ctx, taken))
	one := phoneauth.Limit{Events: 1, Per: time.Hour}
	route := phoneauth.VerifyRoute{
		Key: c.Key, ID: c.ID, Now: t0,
		AddressChecks: []phoneauth.LimitCheck{{Key: "verify-ip:" + c.ID, Limit: one}},
		Budget:        phoneauth.LimitCheck{Key: "verify:" + c.ID, Limit: one},
		CodeHashes:    [][]byte{c.CodeHash},
		Signup:        phoneauth.SignupAllowed,
		Session:       newSession(t0),
	}
	route.Session.ID = taken.ID
	if _, err := s.VerifyChallenge(ctx, route); err == nil || !errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Fatalf("VerifyChallenge with a session id taken: %v, want ErrStoreUnavailable", err)
	}
	got, err := s.GetChallenge(ctx, c.Key, t0)
	if err != nil || got.Attempts != 0 {
		t.Fatalf("the challenge after the failed call: %+v, %v; want it with no attempt", got, err)
	}
	if _, err := s.UserByPhone(ctx, c.Phone); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Fatalf("the user after the failed call: %v, want none", err)
	}
	route.Session = newSession(t0)
	out, err := s.VerifyChallenge(ctx, route)
	if err != nil || out.Result != phoneauth.VerifySignedIn || !out.IsNewUser {
		t.Fatalf("the retry: %+v, %v; want signed in as a new user (the limits at one event must have been given back)", out.Result, err)
	}
}
