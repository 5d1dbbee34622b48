package pgstore

import (
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/storetest"
)

// TestReplicas runs two Authenticators on one database, as two replicas of
// a server would: codes, limits and refresh tokens are shared. The suite's
// phone numbers, devices and addresses are random, so the shared schema of
// the test run needs no cleaning.
func TestReplicas(t *testing.T) {
	s := newTestStore(t, nil)
	storetest.RunReplicas(t, func(*testing.T) (phoneauth.Store, phoneauth.Limiter) { return s, s.Limiter() })
}
