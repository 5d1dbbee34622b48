package storetest_test

import (
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/storetest"
)

// A backend holds itself to the Store contract with one Test function in
// its own _test.go file. Here the backend is phoneauth's memory store; yours
// opens its own store for each subtest's t.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) phoneauth.Store {
			return phoneauth.NewMemoryStore()
		})
	}
	_ = testConformance // func TestConformance(t *testing.T) in your backend
}

// A backend's Limiter, with or without phoneauth.BatchLimiter, runs the
// limiter suite.
func ExampleRunLimiter() {
	testLimiter := func(t *testing.T) {
		storetest.RunLimiter(t, func(t *testing.T) phoneauth.Limiter {
			return phoneauth.NewMemoryLimiter(0)
		})
	}
	_ = testLimiter // func TestLimiterConformance(t *testing.T)
}

// RunReplicas runs two Authenticators on the backend that the function
// returns, once per subtest, as replicas behind a load balancer.
func ExampleRunReplicas() {
	testReplicas := func(t *testing.T) {
		storetest.RunReplicas(t, func(t *testing.T) (phoneauth.Store, phoneauth.Limiter) {
			return phoneauth.NewMemoryStore(), phoneauth.NewMemoryLimiter(0)
		})
	}
	_ = testReplicas // func TestReplicas(t *testing.T)
}
