package pgstore

import (
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/storetest"
)

// The conformance suite, against the shared schema of this test run: the
// suite's keys and IDs are random, so subtests and runs never collide.

func TestConformance(t *testing.T) {
	s := newTestStore(t, nil)
	storetest.Run(t, func(*testing.T) phoneauth.Store { return s })
}

func TestLimiterConformance(t *testing.T) {
	lim := newTestStore(t, nil).Limiter()
	storetest.RunLimiter(t, func(*testing.T) phoneauth.Limiter { return lim })
}
