package redisstore

import (
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/storetest"
)

// TestConformance holds the Store (and its Users) to phoneauth's contract,
// each subtest with a prefix of its own.
func TestConformance(t *testing.T) {
	testOptions(t) // skip (or fail in CI) once rather than in every subtest
	storetest.Run(t, func(t *testing.T) phoneauth.Store {
		rdb, prefix := testClient(t)
		return New(rdb, Options{Prefix: prefix})
	})
}

// TestLimiterConformance holds the Limiter to phoneauth's contract.
func TestLimiterConformance(t *testing.T) {
	testOptions(t)
	storetest.RunLimiter(t, func(t *testing.T) phoneauth.Limiter {
		rdb, prefix := testClient(t)
		return NewLimiter(rdb, Options{Prefix: prefix})
	})
}
