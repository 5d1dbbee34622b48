package faultproxy

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// A Call is one operation of a client under test, run under ctx.
type Call struct {
	Name string
	Run  func(ctx context.Context) error
}

// Timed runs call under a context with the given deadline and returns how
// long it took and its error.
func Timed(call func(context.Context) error, deadline time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := call(ctx)
	return time.Since(start), err
}

// CheckDeadlines runs each call under a context with the given deadline,
// one after the other, then concurrent calls at once (taking the calls in
// turn), and fails t for every call that does not return an error matching
// want, or returns later than deadline plus margin. Run it while the server
// cannot answer (traffic paused, tables locked): it checks that a client
// gives up by its context's deadline, also while it waits for a connection
// of its pool.
func CheckDeadlines(t testing.TB, calls []Call, want error, deadline, margin time.Duration, concurrent int) {
	t.Helper()
	check := func(call Call) time.Duration {
		took, err := Timed(call.Run, deadline)
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", call.Name, err, want)
		}
		if took > deadline+margin {
			t.Errorf("%s: returned after %v, want about the deadline %v", call.Name, took, deadline)
		}
		return took
	}
	var slowest time.Duration
	for _, call := range calls {
		slowest = max(slowest, check(call))
	}
	t.Logf("the slowest call returned after %v (deadline %v)", slowest, deadline)
	var wg sync.WaitGroup
	for i := range concurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			check(calls[i%len(calls)])
		}()
	}
	wg.Wait()
}
