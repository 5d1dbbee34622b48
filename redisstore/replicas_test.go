package redisstore

import (
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/storetest"
)

// TestReplicas runs two Authenticators on one Redis, as two replicas of a
// server would: codes, limits and refresh tokens are shared. Each subtest
// has a key prefix of its own. (Two server processes on one Redis are
// tested by examples/server.)
func TestReplicas(t *testing.T) {
	testOptions(t) // skip (or fail in CI) once rather than in every subtest
	storetest.RunReplicas(t, func(t *testing.T) (phoneauth.Store, phoneauth.Limiter) {
		rdb, prefix := testClient(t)
		return New(rdb, Options{Prefix: prefix}), NewLimiter(rdb, Options{Prefix: prefix})
	})
}
