package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// LimiterOptions describe the Limiter that RunLimiterWith checks.
type LimiterOptions struct {
	// OwnClock declares a limiter that ignores Allow's now argument and
	// counts time by its own clock, such as a database server's. The suite
	// then passes the real time as now, uses a period of a few hundred
	// milliseconds where time must pass, and waits for it in real time
	// (about two seconds in all). Without OwnClock the suite never sleeps:
	// it moves now forward, and the limiter must count time by it alone.
	OwnClock bool
}

// RunLimiter checks a Limiter against the contract of phoneauth.Limiter:
// a burst of Events allowed, then refusals with a retryAfter in (0, Per],
// refilling as time passes, independent keys, Reset, Refund giving back
// one event and never more than a full bucket, and exactly Events allowed
// among concurrent calls. A limiter that is also a
// phoneauth.BatchLimiter is held to AllowAll's contract too: all or
// nothing, the first refusing check, and no lost or extra events under
// concurrent batches. The limiter must count time by Allow's
// now argument, which the suite moves forward instead of sleeping (use
// RunLimiterWith otherwise). newLimiter is called for every subtest and may
// return a shared limiter: every subtest uses its own random keys.
func RunLimiter(t *testing.T, newLimiter func(t *testing.T) phoneauth.Limiter) {
	t.Helper()
	RunLimiterWith(t, newLimiter, LimiterOptions{})
}

// RunLimiterWith is RunLimiter for a limiter described by opts.
func RunLimiterWith(t *testing.T, newLimiter func(t *testing.T) phoneauth.Limiter, opts LimiterOptions) {
	t.Helper()
	for _, tc := range limiterTests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &limiterCheck{Limiter: newLimiter(t), own: opts.OwnClock, now: start, key: "storetest:" + randomString(16)})
		})
	}
}

// A limiterTest is a clause of phoneauth.Limiter.
type limiterTest struct {
	name string
	fn   func(t *testing.T, c *limiterCheck)
}

// limiterTests are the clauses of phoneauth.Limiter.
var limiterTests = []limiterTest{
	{"BurstThenRefused", testBurst},
	{"Refill", testRefill},
	{"RefusedNotRecorded", testRefusedNotRecorded},
	{"KeysIndependent", testKeysIndependent},
	{"Reset", testReset},
	{"ResetUnknownKey", testResetUnknown},
	{"ConcurrentAllow", testConcurrentAllow},
	{"Refund", testRefund},
	{"RefundNeverOverfills", testRefundNeverOverfills},
	{"ConcurrentRefund", testConcurrentRefund},
	{"RefundAll", testRefundAll},
	{"ZeroEventsRefuses", testZeroEvents},
	{"OffAllowsAndRecordsNothing", testOff},
	{"BatchAllOrNothing", testBatchAllOrNothing},
	{"BatchConcurrent", testBatchConcurrent},
}

// A limiterCheck is a limiter under test with the time the suite gives it.
type limiterCheck struct {
	phoneauth.Limiter
	own bool      // the limiter keeps its own time: pass the real time, sleep
	now time.Time // the caller's time, when !own
	key string    // a key of this subtest
}

// time returns the now argument of the next call.
func (c *limiterCheck) time() time.Time {
	if c.own {
		return time.Now()
	}
	return c.now
}

// advance lets d pass.
func (c *limiterCheck) advance(d time.Duration) {
	if c.own {
		time.Sleep(d)
		return
	}
	c.now = c.now.Add(d)
}

// slack is added to a retryAfter before checking that an event is allowed
// again: a millisecond for backends that round times to milliseconds, more
// for a limiter on its own clock, which runs on while the suite checks.
func (c *limiterCheck) slack() time.Duration {
	if c.own {
		return 50 * time.Millisecond
	}
	return time.Millisecond
}

// refillPeriod is the Per of limits whose refill the suite waits for.
func (c *limiterCheck) refillPeriod() time.Duration {
	if c.own {
		return 600 * time.Millisecond
	}
	return time.Minute
}

// allow calls Allow for key and fails t on an error.
func (c *limiterCheck) allow(t *testing.T, key string, l phoneauth.Limit) (bool, time.Duration) {
	t.Helper()
	ok, retryAfter, err := c.Allow(ctx, key, l, c.time())
	noErr(t, "Allow", err)
	return ok, retryAfter
}

// burst checks that key allows n events now.
func (c *limiterCheck) burst(t *testing.T, what, key string, l phoneauth.Limit, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if ok, _ := c.allow(t, key, l); !ok {
			t.Fatalf("%s: event %d of a burst of %d (limit %d per %s) refused", what, i, n, l.Events, l.Per)
		}
	}
}

// refused checks that key refuses an event now, with a retryAfter in
// (0, l.Per], and returns it.
func (c *limiterCheck) refused(t *testing.T, what, key string, l phoneauth.Limit) time.Duration {
	t.Helper()
	ok, retryAfter := c.allow(t, key, l)
	if ok {
		t.Fatalf("%s: allowed, want refused (limit %d per %s)", what, l.Events, l.Per)
	}
	if retryAfter <= 0 || retryAfter > l.Per {
		t.Fatalf("%s: retryAfter = %s, want within (0, %s]", what, retryAfter, l.Per)
	}
	return retryAfter
}

// Events events pass at once, the next is refused with a retryAfter within
// the period.
func testBurst(t *testing.T, c *limiterCheck) {
	l := phoneauth.Limit{Events: 3, Per: time.Hour}
	c.burst(t, "a new key", c.key, l, 3)
	ra := c.refused(t, "the event after the burst", c.key, l)
	if !c.own && ra < l.Per/time.Duration(l.Events)-time.Second {
		t.Fatalf("retryAfter = %s after a burst of 3 per hour, want about %s (one event's share of the period)", ra, l.Per/3)
	}
	c.refused(t, "another event after the burst", c.key, l)

	one := phoneauth.Limit{Events: 1, Per: 10 * time.Minute}
	key := c.key + ":one"
	c.burst(t, "a limit of one", key, one, 1)
	c.refused(t, "the second event under a limit of one", key, one)
}

// After retryAfter one more event passes; after a whole period, a whole
// burst.
func testRefill(t *testing.T, c *limiterCheck) {
	l := phoneauth.Limit{Events: 3, Per: c.refillPeriod()}
	c.burst(t, "a new key", c.key, l, 3)
	ra := c.refused(t, "the event after the burst", c.key, l)
	if !c.own && ra > 2*time.Millisecond {
		c.advance(ra / 2)
		c.refused(t, "an event halfway through retryAfter", c.key, l)
		c.advance(ra - ra/2 + c.slack())
	} else {
		c.advance(ra + c.slack())
	}
	if ok, _ := c.allow(t, c.key, l); !ok {
		t.Fatalf("an event once retryAfter (%s) has passed: refused, want allowed", ra)
	}
	c.refused(t, "the second event after retryAfter", c.key, l)

	c.advance(l.Per + c.slack())
	c.burst(t, "a whole period later", c.key, l, 3)
	c.refused(t, "the event after the refilled burst", c.key, l)
}

// A refused event is not counted: refusals do not push the next allowed
// event further away.
func testRefusedNotRecorded(t *testing.T, c *limiterCheck) {
	l := phoneauth.Limit{Events: 2, Per: c.refillPeriod()}
	c.burst(t, "a new key", c.key, l, 2)
	ra := c.refused(t, "the event after the burst", c.key, l)
	for range 5 {
		c.refused(t, "repeated refused events", c.key, l)
	}
	c.advance(ra + c.slack())
	if ok, _ := c.allow(t, c.key, l); !ok {
		t.Fatalf("an event once the first retryAfter (%s) has passed, after refused ones: refused; refusals were counted", ra)
	}
}

// Keys have their own counts.
func testKeysIndependent(t *testing.T, c *limiterCheck) {
	l := phoneauth.Limit{Events: 2, Per: time.Hour}
	other := c.key + ":other"
	c.burst(t, "the first key", c.key, l, 2)
	c.refused(t, "the first key after its burst", c.key, l)
	c.burst(t, "another key while the first is exhausted", other, l, 2)
	c.refused(t, "the other key after its burst", other, l)
	c.refused(t, "the first key again", c.key, l)
}

// Reset forgets a key's events.
func testReset(t *testing.T, c *limiterCheck) {
	l := phoneauth.Limit{Events: 2, Per: time.Hour}
	other := c.key + ":other"
	c.burst(t, "a new key", c.key, l, 2)
	c.burst(t, "another key", other, l, 2)
	c.refused(t, "the event after the burst", c.key, l)
	noErr(t, "Reset", c.Reset(ctx, c.key))
	c.burst(t, "a key after Reset", c.key, l, 2)
	c.refused(t, "the event after the burst after Reset", c.key, l)
	c.refused(t, "another key, not reset", other, l)
}

func testResetUnknown(t *testing.T, c *limiterCheck) {
	noErr(t, "Reset of a key never seen", c.Reset(ctx, c.key+":unknown"))
}

// Of 50 concurrent events on one key exactly Events pass.
func testConcurrentAllow(t *testing.T, c *limiterCheck) {
	const n = 50
	l := phoneauth.Limit{Events: 10, Per: time.Hour}
	now := c.time()
	oks := make([]bool, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		at := now
		if c.own {
			at = time.Now()
		}
		oks[i], _, errs[i] = c.Allow(ctx, c.key, l, at)
	})
	allowed := 0
	for i := range n {
		noErr(t, "concurrent Allow", errs[i])
		if oks[i] {
			allowed++
		}
	}
	if allowed != l.Events {
		t.Fatalf("%d concurrent Allow on one key with a limit of %d per hour: %d allowed, want exactly %d", n, l.Events, allowed, l.Events)
	}
}

// refund calls Refund for key and fails t on an error.
func (c *limiterCheck) refund(t *testing.T, key string, l phoneauth.Limit) {
	t.Helper()
	noErr(t, "Refund", c.Refund(ctx, key, l, c.time()))
}

// Refund gives back one event: after it exactly one more passes. Other
// keys keep their counts.
func testRefund(t *testing.T, c *limiterCheck) {
	l := phoneauth.Limit{Events: 3, Per: time.Hour}
	other := c.key + ":other"
	c.burst(t, "a new key", c.key, l, 3)
	c.burst(t, "another key", other, l, 3)
	c.refused(t, "the event after the burst", c.key, l)
	c.refund(t, c.key, l)
	c.burst(t, "the event after a refund", c.key, l, 1)
	c.refused(t, "the second event after one refund", c.key, l)
	c.refused(t, "another key, not refunded", other, l)

	c.refund(t, c.key, l)
	c.refund(t, c.key, l)
	c.burst(t, "the events after two refunds", c.key, l, 2)
	c.refused(t, "the third event after two refunds", c.key, l)

	one := phoneauth.Limit{Events: 1, Per: 10 * time.Minute} // a cooldown
	key := c.key + ":one"
	c.burst(t, "a limit of one", key, one, 1)
	c.refund(t, key, one)
	c.burst(t, "a limit of one after its refund", key, one, 1)
	c.refused(t, "a limit of one after the refunded event", key, one)
}

// A refund on a full bucket, a key never seen or an Unlimited limit gives
// nothing: the burst stays Events.
func testRefundNeverOverfills(t *testing.T, c *limiterCheck) {
	l := phoneauth.Limit{Events: 3, Per: time.Hour}
	c.refund(t, c.key+":unknown", l)
	c.burst(t, "a key refunded before it was seen", c.key+":unknown", l, 3)
	c.refused(t, "the event after the burst of a key refunded unseen", c.key+":unknown", l)

	c.burst(t, "a new key", c.key, l, 1)
	for range 3 {
		c.refund(t, c.key, l)
	}
	c.burst(t, "a key refunded more than it used", c.key, l, 3)
	c.refused(t, "the event after the burst of a key refunded more than it used", c.key, l)

	noErr(t, "Refund of an Unlimited limit", c.Refund(ctx, c.key, phoneauth.Unlimited, c.time()))
}

// RefundAll of a phoneauth.BatchRefunder gives back one event of each key
// it refunds (never overfilling one) and forgets each key it resets; other
// keys keep their counts. A limiter without it skips the check.
func testRefundAll(t *testing.T, c *limiterCheck) {
	r, ok := c.Limiter.(phoneauth.BatchRefunder)
	if !ok {
		t.Skip("not a phoneauth.BatchRefunder")
	}
	l := phoneauth.Limit{Events: 3, Per: time.Hour}
	a, b, full, reset, other := c.key+":a", c.key+":b", c.key+":full", c.key+":reset", c.key+":other"
	for _, key := range []string{a, b, reset, other} {
		c.burst(t, "a new key", key, l, 3)
	}
	refunds := []phoneauth.LimitCheck{{Key: a, Limit: l}, {Key: b, Limit: l}, {Key: full, Limit: l}, {Key: c.key + ":off", Limit: phoneauth.Unlimited}}
	noErr(t, "RefundAll", r.RefundAll(ctx, refunds, []string{reset}, c.time()))
	c.burst(t, "a refunded key", a, l, 1)
	c.refused(t, "a refunded key after its one event", a, l)
	c.burst(t, "another refunded key", b, l, 1)
	c.burst(t, "a key refunded while full", full, l, 3)
	c.refused(t, "a key refunded while full, after its burst", full, l)
	c.burst(t, "a reset key", reset, l, 3)
	c.refused(t, "a key neither refunded nor reset", other, l)
	noErr(t, "RefundAll of nothing", r.RefundAll(ctx, nil, nil, c.time()))
}

// Of 10 events, 5 concurrent refunds give back exactly 5.
func testConcurrentRefund(t *testing.T, c *limiterCheck) {
	const n = 5
	l := phoneauth.Limit{Events: 10, Per: time.Hour}
	c.burst(t, "a new key", c.key, l, l.Events)
	now := c.time()
	errs := make([]error, n)
	concurrently(n, func(i int) {
		at := now
		if c.own {
			at = time.Now()
		}
		errs[i] = c.Refund(ctx, c.key, l, at)
	})
	for _, err := range errs {
		noErr(t, "concurrent Refund", err)
	}
	c.burst(t, "the events after concurrent refunds", c.key, l, n)
	c.refused(t, "the event after those the refunds gave back", c.key, l)
}

// A Limit of zero events per a positive period refuses every event, with a
// retryAfter within the period.
func testZeroEvents(t *testing.T, c *limiterCheck) {
	l := phoneauth.Limit{Events: 0, Per: time.Minute}
	for range 3 {
		c.refused(t, "an event under a limit of zero events", c.key, l)
	}
}

// An Off limit allows every event and records none: the key is then as
// fresh as before under a real limit.
func testOff(t *testing.T, c *limiterCheck) {
	for _, off := range []phoneauth.Limit{phoneauth.Unlimited, {Events: 5, Per: 0}} {
		c.burst(t, fmt.Sprintf("an Off limit %+v", off), c.key, off, 50)
	}
	l := phoneauth.Limit{Events: 2, Per: time.Hour}
	c.burst(t, "a real limit on a key used under Off limits", c.key, l, 2)
	c.refused(t, "the event after the burst", c.key, l)
}

// batch returns c's limiter as a BatchLimiter, or skips the clause.
func (c *limiterCheck) batch(t *testing.T) phoneauth.BatchLimiter {
	t.Helper()
	b, ok := c.Limiter.(phoneauth.BatchLimiter)
	if !ok {
		t.Skip("not a phoneauth.BatchLimiter")
	}
	return b
}

// AllowAll records an event on every key or on none, and names the first
// check that refused.
func testBatchAllOrNothing(t *testing.T, c *limiterCheck) {
	b := c.batch(t)
	one := phoneauth.Limit{Events: 1, Per: time.Hour}
	two := phoneauth.Limit{Events: 2, Per: time.Hour}
	k1, k2, k3 := c.key+":1", c.key+":2", c.key+":3"
	checks := []phoneauth.LimitCheck{{Key: k1, Limit: two}, {Key: k2, Limit: one}, {Key: k3, Limit: phoneauth.Unlimited}}

	refused, _, err := b.AllowAll(ctx, checks, c.time())
	noErr(t, "AllowAll", err)
	if refused != -1 {
		t.Fatalf("first AllowAll: check %d refused, want none", refused)
	}
	// k2 is spent: the batch refuses at index 1 and records nothing on k1.
	for round := 0; round < 3; round++ {
		refused, retry, err := b.AllowAll(ctx, checks, c.time())
		noErr(t, "AllowAll", err)
		if refused != 1 {
			t.Fatalf("AllowAll %d with k2 spent: refused = %d, want 1", round+2, refused)
		}
		if retry <= 0 || retry > time.Hour {
			t.Fatalf("AllowAll refused with retryAfter %v, want in (0, 1h]", retry)
		}
	}
	// k1 still has its second event: the refused batches recorded nothing.
	ok, _, err := b.Allow(ctx, k1, two, c.time())
	noErr(t, "Allow", err)
	if !ok {
		t.Fatal("refused batches recorded events on a key that allowed them")
	}
	refused, _, err = b.AllowAll(ctx, checks[:1], c.time())
	noErr(t, "AllowAll", err)
	if refused != 0 {
		t.Fatalf("AllowAll on a spent k1: refused = %d, want 0", refused)
	}
	refused, _, err = b.AllowAll(ctx, nil, c.time())
	noErr(t, "AllowAll with no checks", err)
	if refused != -1 {
		t.Fatalf("AllowAll with no checks refused %d", refused)
	}
}

// Concurrent batches over two keys, one limited to 10 events and one to
// 1000, allow exactly 10 batches, and the second key counts exactly 10
// events: refused batches recorded none.
func testBatchConcurrent(t *testing.T, c *limiterCheck) {
	b := c.batch(t)
	const n = 40
	small := phoneauth.Limit{Events: 10, Per: time.Hour}
	large := phoneauth.Limit{Events: 1000, Per: time.Hour}
	checks := []phoneauth.LimitCheck{{Key: c.key + ":large", Limit: large}, {Key: c.key + ":small", Limit: small}}
	now := c.time()
	refused := make([]int, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		at := now
		if c.own {
			at = time.Now()
		}
		refused[i], _, errs[i] = b.AllowAll(ctx, checks, at)
	})
	allowed := 0
	for i := range n {
		noErr(t, "concurrent AllowAll", errs[i])
		if refused[i] == -1 {
			allowed++
		}
	}
	if allowed != small.Events {
		t.Fatalf("%d concurrent batches with a limit of %d: %d allowed, want exactly %d", n, small.Events, allowed, small.Events)
	}
	// The large key has exactly large.Events-10 events left.
	left := 0
	for {
		ok, _, err := b.Allow(ctx, c.key+":large", large, c.time())
		noErr(t, "Allow", err)
		if !ok {
			break
		}
		if left++; left > large.Events {
			t.Fatal("the large key never refuses")
		}
	}
	if left != large.Events-small.Events {
		t.Fatalf("after %d allowed batches the large key had %d events left, want %d: refused batches recorded events", allowed, left, large.Events-small.Events)
	}
}
