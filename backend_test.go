package phoneauth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// Modes of a faultyStore.
const (
	working int32 = iota
	failing       // calls fail at once with errDown
	hanging       // calls wait until their context ends
)

var errDown = errors.New("connection refused")

// faultyStore is a memory store whose challenge and session calls fail or
// hang while its mode says so, and whose DeleteChallenge (the consume of a
// verified code) does while consume says so. It records the deadline of
// the last call's context.
type faultyStore struct {
	phoneauth.Store
	mode     atomic.Int32
	consume  atomic.Int32
	deadline atomic.Pointer[time.Time] // of the last call; nil without one
}

func (s *faultyStore) fault(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok {
		s.deadline.Store(&d)
	} else {
		s.deadline.Store(nil)
	}
	return fault(ctx, s.mode.Load())
}

// fault fails or hangs a call as mode says. A hanging call gives up after
// ten seconds, so that a test without the deadline under test fails
// instead of hanging.
func fault(ctx context.Context, mode int32) error {
	switch mode {
	case failing:
		return errDown
	case hanging:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("test: the call had no deadline")
		}
	}
	return nil
}

func (s *faultyStore) PutChallenge(ctx context.Context, c phoneauth.Challenge) error {
	if err := s.fault(ctx); err != nil {
		return err
	}
	return s.Store.PutChallenge(ctx, c)
}

func (s *faultyStore) AttemptChallenge(ctx context.Context, key, id string, now time.Time) (phoneauth.Challenge, error) {
	if err := s.fault(ctx); err != nil {
		return phoneauth.Challenge{}, err
	}
	return s.Store.AttemptChallenge(ctx, key, id, now)
}

func (s *faultyStore) DeleteChallenge(ctx context.Context, key, id string) error {
	if err := fault(ctx, s.consume.Load()); err != nil {
		return err
	}
	return s.Store.DeleteChallenge(ctx, key, id)
}

func (s *faultyStore) RotateRefresh(ctx context.Context, r phoneauth.Rotation) (phoneauth.Session, error) {
	if err := s.fault(ctx); err != nil {
		return phoneauth.Session{}, err
	}
	return s.Store.RotateRefresh(ctx, r)
}

// faultyLimiter is a MemoryLimiter whose Allow and AllowAll fail or hang
// while its mode says so.
type faultyLimiter struct {
	*phoneauth.MemoryLimiter
	mode atomic.Int32
}

func (l *faultyLimiter) Allow(ctx context.Context, key string, lim phoneauth.Limit, now time.Time) (bool, time.Duration, error) {
	if err := fault(ctx, l.mode.Load()); err != nil {
		return false, 0, err
	}
	return l.MemoryLimiter.Allow(ctx, key, lim, now)
}

func (l *faultyLimiter) AllowAll(ctx context.Context, checks []phoneauth.LimitCheck, now time.Time) (int, time.Duration, error) {
	if err := fault(ctx, l.mode.Load()); err != nil {
		return -1, 0, err
	}
	return l.MemoryLimiter.AllowAll(ctx, checks, now)
}

// usersOf returns the fixture's memory store as Users.
func usersOf(s phoneauth.Store) phoneauth.Users { return s.(phoneauth.Users) }

func newFaultyFixture(t *testing.T, configure ...func(*phoneauth.Config)) (*fixture, *faultyStore) {
	t.Helper()
	fs := &faultyStore{}
	f := newFixture(t, append([]func(*phoneauth.Config){func(c *phoneauth.Config) {
		fs.Store = c.Store
		c.Store, c.Users = fs, usersOf(c.Store)
	}}, configure...)...)
	return f, fs
}

// A store that hangs is answered ErrStoreUnavailable once StoreTimeout has
// passed, by every operation, under concurrent requests.
func TestHungStoreAnsweredAtDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	f, fs := newFaultyFixture(t, func(c *phoneauth.Config) {
		c.StoreTimeout = timeout
	})
	ctx := context.Background()
	f.request(phonePK)
	in, err := f.verify(phonePK, f.lastCode())
	if err != nil {
		t.Fatal(err)
	}
	f.request(phonePK2)
	sent := f.sentCount()

	fs.mode.Store(hanging)
	ops := map[string]func(i int) error{
		"request": func(i int) error {
			_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: fmt.Sprintf("+9198765432%02d", i), IP: fmt.Sprintf("192.0.2.%d", i+1)})
			return err
		},
		"verify": func(i int) error {
			_, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: phonePK2, Code: "123456", Device: phoneauth.Device{ID: "dev-1"}, IP: fmt.Sprintf("198.51.100.%d", i+1)})
			return err
		},
		"refresh": func(int) error {
			_, err := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "198.51.100.1"})
			return err
		},
	}
	const perOp = 10 // within the failed-verify budget (10 an hour)
	var wg sync.WaitGroup
	for name, op := range ops {
		for i := range perOp {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				err := op(i)
				took := time.Since(start)
				if !errors.Is(err, phoneauth.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s %d on a hung store: %v, want ErrStoreUnavailable and DeadlineExceeded", name, i, err)
				}
				if took < timeout {
					t.Errorf("%s %d answered after %s, before the deadline of %s: the store did not hang", name, i, took, timeout)
				}
			}()
		}
	}
	wg.Wait()
	if n := f.sentCount() - sent; n != 0 {
		t.Errorf("%d codes sent that the store never stored", n)
	}

	// Once the store answers again, so does the Authenticator; the hung
	// refreshes rotated nothing.
	fs.mode.Store(working)
	if _, err := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "198.51.100.1"}); err != nil {
		t.Fatalf("refresh after the store recovered: %v", err)
	}
}

// A Limiter that hangs is answered the same way.
func TestHungLimiterAnsweredAtDeadline(t *testing.T) {
	lim := &faultyLimiter{MemoryLimiter: phoneauth.NewMemoryLimiter(0)}
	f := newFixture(t, func(c *phoneauth.Config) { c.Limiter = lim; c.StoreTimeout = 20 * time.Millisecond })
	lim.mode.Store(hanging)
	_, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phonePK, IP: "192.0.2.1"})
	if !errors.Is(err, phoneauth.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request with a hung limiter: %v", err)
	}
	if _, err := f.verify(phonePK, "123456"); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Fatalf("verify with a hung limiter: %v", err)
	}
	if f.sentCount() != 0 {
		t.Fatal("a code was sent without the limits' answer")
	}
}

// Every call gets StoreTimeout as its deadline, DefaultStoreTimeout by
// default; a negative StoreTimeout sets none; one below a millisecond is
// refused.
func TestStoreTimeoutIsTheCallDeadline(t *testing.T) {
	cfg := phoneauth.Config{Store: phoneauth.NewMemoryStore(), Sender: phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "", nil }),
		Secret: testSecret(1), StoreTimeout: time.Microsecond}
	if _, err := phoneauth.New(cfg); !errors.Is(err, phoneauth.ErrInvalidConfig) || !strings.Contains(err.Error(), "StoreTimeout") {
		t.Errorf("StoreTimeout of a microsecond: %v, want ErrInvalidConfig naming it", err)
	}
	for _, tc := range []struct {
		timeout time.Duration
		want    time.Duration // 0: no deadline
	}{
		{0, phoneauth.DefaultStoreTimeout},
		{time.Second, time.Second},
		{-1, 0},
	} {
		f, fs := newFaultyFixture(t, func(c *phoneauth.Config) { c.StoreTimeout = tc.timeout })
		start := time.Now()
		f.request(phonePK)
		end := time.Now()
		d := fs.deadline.Load()
		switch {
		case tc.want == 0 && d != nil:
			t.Errorf("StoreTimeout %s: the call had a deadline %s ahead", tc.timeout, d.Sub(start))
		case tc.want == 0:
		case d == nil:
			t.Errorf("StoreTimeout %s: the call had no deadline", tc.timeout)
		case d.Before(start.Add(tc.want)) || d.After(end.Add(tc.want)):
			t.Errorf("StoreTimeout %s: the call's deadline was %s after the request started, want %s", tc.timeout, d.Sub(start), tc.want)
		}
	}
}

// An outage is logged when it starts, once a minute while it lasts, and
// when it ends; not once per failed request. A caller that gives up is no
// outage.
func TestOutageLoggedOnce(t *testing.T) {
	// The phones share a number range: its budgets are off, since up to 50
	// requests hold their events at once (a failed request gives them back
	// only when it ends).
	f, fs := newFaultyFixture(t, func(c *phoneauth.Config) {
		c.Limits.PerRange, c.Limits.UnverifiedPerRange = phoneauth.Unlimited, phoneauth.Unlimited
	})
	// Each request is for a phone and from an address of its own, so that
	// no other limit refuses it.
	request := func(ctx context.Context, i int) error {
		_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: fmt.Sprintf("+919876%06d", i), IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)})
		return err
	}
	count := func(msg string) int { return strings.Count(f.logs.String(), msg) }
	const down, stillDown, upAgain = "store unavailable", "store still unavailable", "store available again"

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	fs.mode.Store(hanging)
	if err := request(canceled, 0); err == nil {
		t.Fatal("request with a canceled context succeeded")
	}
	if n := count(down); n != 0 {
		t.Fatalf("a canceled request logged an outage: %d lines", n)
	}

	ctx := context.Background()
	fs.mode.Store(failing)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := request(ctx, 1+i); !errors.Is(err, errDown) {
				t.Errorf("request: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := count(down); got != 1 {
		t.Fatalf("%d failed requests logged %d outage lines, want 1:\n%s", n, got, f.logs)
	}
	f.clock.Advance(30 * time.Second)
	_ = request(ctx, 100)
	if got := count(stillDown); got != 0 {
		t.Fatalf("reminded after 30s: %d lines", got)
	}
	f.clock.Advance(30 * time.Second)
	_ = request(ctx, 101)
	_ = request(ctx, 102)
	if got := count(stillDown); got != 1 || !strings.Contains(f.logs.String(), "failures=52") {
		t.Fatalf("a minute into the outage: %d reminders, want 1 counting 52 failures:\n%s", got, f.logs)
	}

	fs.mode.Store(working)
	f.clock.Advance(time.Second)
	if err := request(ctx, 200); err != nil {
		t.Fatalf("request once the store answers: %v", err)
	}
	if got := count(upAgain); got != 0 {
		t.Fatalf("recovery logged a second after the last failure: %d lines, want none before %v without failures", got, phoneauth.OutageQuiet)
	}
	f.clock.Advance(phoneauth.OutageQuiet - time.Second)
	for i := range 3 {
		if err := request(ctx, 201+i); err != nil {
			t.Fatalf("request once the store answers: %v", err)
		}
	}
	if got, after := count(upAgain), "after="+(time.Minute+phoneauth.OutageQuiet).String(); got != 1 || !strings.Contains(f.logs.String(), "failures=53") || !strings.Contains(f.logs.String(), after) {
		t.Fatalf("recovery: %d lines, want 1 with 53 failures %s:\n%s", got, after, f.logs)
	}
	if got := count(down); got != 1 {
		t.Fatalf("outage lines after recovery: %d, want still 1", got)
	}
}

// A store that fails now and then (a node of a cluster down, connections
// killed), its failures and answers interleaved, is one outage in the log,
// not one per failure: it ends once the store has answered without a
// failure for OutageQuiet.
func TestIntermittentOutageLoggedOnce(t *testing.T) {
	f, fs := newFaultyFixture(t, func(c *phoneauth.Config) {
		c.Limits.PerRange, c.Limits.UnverifiedPerRange = phoneauth.Unlimited, phoneauth.Unlimited
	})
	request := func(i int) error {
		_, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: fmt.Sprintf("+919876%06d", i), IP: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)})
		return err
	}
	count := func(msg string) int { return strings.Count(f.logs.String(), msg) }
	for i := range 20 {
		fs.mode.Store(failing)
		if err := request(2 * i); !errors.Is(err, errDown) {
			t.Fatalf("request with the store failing: %v", err)
		}
		f.clock.Advance(100 * time.Millisecond)
		fs.mode.Store(working)
		if err := request(2*i + 1); err != nil {
			t.Fatalf("request with the store answering: %v", err)
		}
		f.clock.Advance(100 * time.Millisecond)
	}
	if down, up := count("store unavailable"), count("store available again"); down != 1 || up != 0 {
		t.Fatalf("20 failures between answers logged %d outages and %d recoveries, want 1 and 0:\n%s", down, up, f.logs)
	}
	f.clock.Advance(phoneauth.OutageQuiet)
	if err := request(100); err != nil {
		t.Fatal(err)
	}
	if up := count("store available again"); up != 1 || !strings.Contains(f.logs.String(), "failures=20") {
		t.Fatalf("after %v without failures: %d recoveries, want 1 counting 20 failures:\n%s", phoneauth.OutageQuiet, up, f.logs)
	}
}

// A request answered with an error because the store failed gives its
// limit events back: the failed attempts start no cooldown and spend no
// per-phone budget, whether the limiter decides in batches or one limit
// at a time.
func TestFailedStoreWriteGivesLimitsBack(t *testing.T) {
	for name, newLimiter := range map[string]func() phoneauth.Limiter{
		"BatchLimiter": func() phoneauth.Limiter { return phoneauth.NewMemoryLimiter(0) },
		"Limiter":      func() phoneauth.Limiter { return plainLimiter{phoneauth.NewMemoryLimiter(0)} },
	} {
		t.Run(name, func(t *testing.T) {
			f, fs := newFaultyFixture(t, func(c *phoneauth.Config) { c.Limiter = newLimiter() })
			fs.mode.Store(failing)
			for i := range 5 { // more than the per-phone limit of 3
				if _, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phonePK, IP: "192.0.2.1"}); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
					t.Fatalf("request %d on a failing store: %v", i, err)
				}
				phoneauth.WaitRefunds(f.auth)
			}
			fs.mode.Store(working)
			f.request(phonePK)
			_, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phonePK, IP: "192.0.2.1"})
			if ra := retryAfter(t, err, "cooldown"); ra != 30*time.Second {
				t.Fatalf("the request after a successful one: retry after %s, want the whole cooldown", ra)
			}
		})
	}
}

// A code that could not be sent costs no cooldown either.
func TestFailedSendGivesLimitsBack(t *testing.T) {
	f := newFixture(t)
	f.sendErr = errors.New("provider down")
	if _, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phonePK, IP: "192.0.2.1"}); !errors.Is(err, phoneauth.ErrSendFailed) {
		t.Fatalf("request with a failing sender: %v", err)
	}
	phoneauth.WaitRefunds(f.auth)
	f.sendErr = nil
	f.request(phonePK)
}

// A verification the store could not answer spends nothing of the phone's
// failed-verify budget: whether the attempt itself failed, or the consume
// of the matching code.
func TestFailedVerifyGivesBudgetBack(t *testing.T) {
	for _, step := range []string{"attempt", "consume"} {
		t.Run(step, func(t *testing.T) {
			f, fs := newFaultyFixture(t, func(c *phoneauth.Config) {
				c.Limits.FailedVerifies = phoneauth.Limit{Events: 1, Per: time.Hour}
			})
			f.request(phonePK)
			fail := &fs.mode
			if step == "consume" {
				fail = &fs.consume
			}
			fail.Store(failing)
			for i := range 3 { // fewer than the 5 attempts of a code
				if _, err := f.verify(phonePK, f.lastCode()); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
					t.Fatalf("verify %d on a failing store: %v", i, err)
				}
				phoneauth.WaitRefunds(f.auth)
			}
			fail.Store(working)
			if _, err := f.verify(phonePK, f.lastCode()); err != nil {
				t.Fatalf("verify once the store answers: %v", err)
			}
		})
	}
}

// A verification or a refresh the store could not answer costs its client
// address nothing, with the per-address limits at one event: the retry the
// 503 asks for is not refused. The limits still count what succeeds.
func TestOutageGivesAddressLimitsBack(t *testing.T) {
	ctx := context.Background()
	f, fs := newFaultyFixture(t, func(c *phoneauth.Config) {
		c.Limits.VerifyPerIP = phoneauth.Limit{Events: 1, Per: time.Hour}
		c.Limits.RefreshPerIP = phoneauth.Limit{Events: 1, Per: time.Hour}
	})
	f.request(phonePK)
	fs.mode.Store(failing)
	for i := range 3 {
		if _, err := f.verify(phonePK, f.lastCode()); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Fatalf("verify %d on a failing store: %v", i, err)
		}
		phoneauth.WaitRefunds(f.auth)
	}
	fs.mode.Store(working)
	in, err := f.verify(phonePK, f.lastCode())
	if err != nil {
		t.Fatalf("verify once the store answers: %v", err)
	}
	_, err = f.verify(phonePK, f.lastCode())
	retryAfter(t, err, "verify-ip")

	refresh := phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "192.0.2.1"}
	fs.mode.Store(failing)
	for i := range 3 {
		if _, err := f.auth.Refresh(ctx, refresh); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Fatalf("refresh %d on a failing store: %v", i, err)
		}
		phoneauth.WaitRefunds(f.auth)
	}
	fs.mode.Store(working)
	next, err := f.auth.Refresh(ctx, refresh)
	if err != nil {
		t.Fatalf("refresh once the store answers: %v", err)
	}
	_, err = f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: next.Tokens.RefreshToken, IP: "192.0.2.1"})
	retryAfter(t, err, "refresh-ip")
}

// hangingRefunds is a MemoryLimiter whose Refund waits until its context
// ends, as a limiter that is down as well.
type hangingRefunds struct {
	*phoneauth.MemoryLimiter
	started chan struct{}
	ended   chan error
}

func (l *hangingRefunds) Refund(ctx context.Context, _ string, _ phoneauth.Limit, _ time.Time) error {
	l.started <- struct{}{}
	err := fault(ctx, hanging)
	l.ended <- err
	return err
}

// Giving limit events back does not hold up the answer: it runs in the
// background, under the deadline, and a failure is logged.
func TestRefundDoesNotDelayTheAnswer(t *testing.T) {
	lim := &hangingRefunds{MemoryLimiter: phoneauth.NewMemoryLimiter(0), started: make(chan struct{}, 1), ended: make(chan error, 1)}
	f, fs := newFaultyFixture(t, func(c *phoneauth.Config) {
		c.Limiter = lim
		c.StoreTimeout = 50 * time.Millisecond
	})
	fs.mode.Store(failing)
	if _, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phonePK, IP: "192.0.2.1"}); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Fatalf("request on a failing store: %v", err)
	}
	<-lim.started
	select {
	case err := <-lim.ended:
		t.Fatalf("the request was answered after its refund ended (%v), want before", err)
	default:
	}
	phoneauth.WaitRefunds(f.auth)
	if err := <-lim.ended; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the refund ended with %v, want its deadline", err)
	}
	if !strings.Contains(f.logs.String(), "giving back limit events failed") {
		t.Fatalf("the failed refund was not logged:\n%s", f.logs)
	}
}

// flakyStore is a memory store, and its Users, whose call named by failNext
// fails once with errDown. It counts the sessions created.
type flakyStore struct {
	phoneauth.Store
	users    phoneauth.Users
	failNext atomic.Pointer[string]
	created  atomic.Int32
}

func newFlakyFixture(t *testing.T, configure ...func(*phoneauth.Config)) (*fixture, *flakyStore) {
	t.Helper()
	fs := &flakyStore{}
	f := newFixture(t, append([]func(*phoneauth.Config){func(c *phoneauth.Config) {
		fs.Store, fs.users = c.Store, usersOf(c.Store)
		c.Store, c.Users = fs, fs
	}}, configure...)...)
	return f, fs
}

// failOnce makes the next call op fail.
func (s *flakyStore) failOnce(op string) { s.failNext.Store(&op) }

func (s *flakyStore) fail(op string) error {
	if p := s.failNext.Load(); p != nil && *p == op && s.failNext.CompareAndSwap(p, nil) {
		return errDown
	}
	return nil
}

func (s *flakyStore) CreateUser(ctx context.Context, phone string, metadata map[string]any) (phoneauth.User, bool, error) {
	if err := s.fail("create user"); err != nil {
		return phoneauth.User{}, false, err
	}
	return s.users.CreateUser(ctx, phone, metadata)
}

func (s *flakyStore) UserByPhone(ctx context.Context, phone string) (phoneauth.User, error) {
	return s.users.UserByPhone(ctx, phone)
}

func (s *flakyStore) SetPhone(ctx context.Context, userID, phone string) error {
	if err := s.fail("set phone"); err != nil {
		return err
	}
	return s.users.SetPhone(ctx, userID, phone)
}

func (s *flakyStore) CreateSession(ctx context.Context, sess phoneauth.Session) error {
	if err := s.fail("create session"); err != nil {
		return err
	}
	s.created.Add(1)
	return s.Store.CreateSession(ctx, sess)
}

func (s *flakyStore) DeleteChallenge(ctx context.Context, key, id string) error {
	if err := s.fail("delete challenge"); err != nil {
		return err
	}
	return s.Store.DeleteChallenge(ctx, key, id)
}

func (s *flakyStore) RevokeOtherSessions(ctx context.Context, userID, keepID, phone string, now time.Time) error {
	if err := s.fail("revoke other sessions"); err != nil {
		return err
	}
	return s.Store.RevokeOtherSessions(ctx, userID, keepID, phone, now)
}

// A verification answered ErrStoreUnavailable because creating the user,
// creating the session or consuming the code failed has not happened: the
// retry with the same code signs in, with the per-address limit and the
// failed-verify budget at one event each (so the failed call must have
// given its events back), and leaves exactly one session and one
// EventVerified and EventSignedIn.
func TestFailedSignInLeavesCodeUsable(t *testing.T) {
	for _, op := range []string{"create user", "create session", "delete challenge"} {
		t.Run(op, func(t *testing.T) {
			f, fs := newFlakyFixture(t, func(c *phoneauth.Config) {
				c.Limits.VerifyPerIP = phoneauth.Limit{Events: 1, Per: time.Hour}
				c.Limits.FailedVerifies = phoneauth.Limit{Events: 1, Per: time.Hour}
			})
			f.request(phonePK)
			code := f.lastCode()
			fs.failOnce(op)
			if _, err := f.verify(phonePK, code); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
				t.Fatalf("verify with a failing %s: %v, want ErrStoreUnavailable", op, err)
			}
			phoneauth.WaitRefunds(f.auth)
			if n := f.countEvents(phoneauth.EventVerified, nil) + f.countEvents(phoneauth.EventSignedIn, nil); n != 0 {
				t.Fatalf("the failed verification reported %d verified or signed-in events", n)
			}
			in, err := f.verify(phonePK, code)
			if err != nil {
				t.Fatalf("the retry with the same code: %v", err)
			}
			sessions, err := f.auth.Sessions(context.Background(), in.User.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(sessions) != 1 || sessions[0].ID != in.Session.ID {
				t.Fatalf("sessions after the retry: %+v, want only %s", sessions, in.Session.ID)
			}
			if f.countEvents(phoneauth.EventVerified, nil) != 1 || f.countEvents(phoneauth.EventSignedIn, nil) != 1 {
				t.Fatalf("events: %d verified, %d signed in; want 1 each", f.countEvents(phoneauth.EventVerified, nil), f.countEvents(phoneauth.EventSignedIn, nil))
			}
			_, err = f.verify(phonePK, code)
			retryAfter(t, err, "verify-ip") // the retry's event is kept
		})
	}
}

// The same holds for the confirmation of a signed-in user's phone: setting
// the phone, ending the user's other sessions or consuming the code
// failing leaves the code usable, and the retry changes the phone, ends
// the other sessions and tells the old number, once.
func TestFailedPhoneConfirmationLeavesCodeUsable(t *testing.T) {
	for _, op := range []string{"set phone", "revoke other sessions", "delete challenge"} {
		t.Run(op, func(t *testing.T) {
			ctx := context.Background()
			f, fs := newFlakyFixture(t, func(c *phoneauth.Config) {
				c.Limits.VerifyPerIP = phoneauth.Limit{Events: 1, Per: time.Hour}
			})
			f.request(phonePK)
			in, err := f.verify(phonePK, f.lastCode())
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Minute) // past the resend cooldown
			if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, DeviceID: "dev-2", IP: "192.0.2.2"}); err != nil {
				t.Fatal(err)
			}
			other, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: phonePK, Code: f.lastCode(), Device: phoneauth.Device{ID: "dev-2"}, IP: "192.0.2.2"})
			if err != nil {
				t.Fatal(err)
			}
			pv, err := f.auth.StartPhoneVerification(ctx, phoneauth.PhoneVerificationParams{UserID: in.User.ID, SessionID: in.Session.ID, Phone: phonePK2, IP: "192.0.2.9"})
			if err != nil {
				t.Fatal(err)
			}
			confirm := phoneauth.ConfirmPhoneVerificationParams{UserID: in.User.ID, SessionID: in.Session.ID, Phone: phonePK2, RequestID: pv.RequestID, Code: f.lastCode(), IP: "192.0.2.9"}
			fs.failOnce(op)
			if err := f.auth.ConfirmPhoneVerification(ctx, confirm); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
				t.Fatalf("confirm with a failing %s: %v, want ErrStoreUnavailable", op, err)
			}
			phoneauth.WaitRefunds(f.auth)
			if err := f.auth.ConfirmPhoneVerification(ctx, confirm); err != nil {
				t.Fatalf("the retry with the same code: %v", err)
			}
			if f.countEvents(phoneauth.EventPhoneVerified, nil) != 1 || f.countEvents(phoneauth.EventPhoneChanged, nil) != 1 {
				t.Fatalf("%d phone_verified and %d phone_changed events, want 1 each", f.countEvents(phoneauth.EventPhoneVerified, nil), f.countEvents(phoneauth.EventPhoneChanged, nil))
			}
			if _, err := f.store.GetSession(ctx, other.Session.ID, f.clock.Now()); !errors.Is(err, phoneauth.ErrNotFound) {
				t.Fatalf("the user's other session after the phone changed: %v, want ErrNotFound (ended)", err)
			}
			if n := f.sentTo(phonePK); n != 3 {
				t.Fatalf("%d messages to the old number, want 3: two codes and one notice of the change", n)
			}
		})
	}
}

// barrierStore is a memory store whose DeleteChallenge waits until n
// sessions were created (or a second passed), so that concurrent
// verifications of one right code all reach the consume with a session.
type barrierStore struct {
	phoneauth.Store
	n       int32
	created atomic.Int32
	all     chan struct{}
}

func (s *barrierStore) CreateSession(ctx context.Context, sess phoneauth.Session) error {
	err := s.Store.CreateSession(ctx, sess)
	if s.created.Add(1) == s.n {
		close(s.all)
	}
	return err
}

func (s *barrierStore) DeleteChallenge(ctx context.Context, key, id string) error {
	select {
	case <-s.all:
	case <-time.After(time.Second):
	}
	return s.Store.DeleteChallenge(ctx, key, id)
}

// Concurrent verifications of one right code that all created their
// session before the consume: one signs in, the others get
// ErrVerificationFailed, and their sessions are deleted, leaving one.
func TestConcurrentRightCodesLeaveOneSession(t *testing.T) {
	const n = 20
	bs := &barrierStore{n: n, all: make(chan struct{})}
	f := newFixture(t, func(c *phoneauth.Config) {
		bs.Store = c.Store
		c.Store, c.Users = bs, usersOf(c.Store)
		c.MaxAttempts = n
		c.Limits.FailedVerifies = phoneauth.Unlimited
		c.Limits.VerifyPerIP = phoneauth.Unlimited
		c.AllowWeakCodes = true
	})
	f.request(phonePK)
	code := f.lastCode()
	var wins, fails atomic.Int32
	var winner atomic.Pointer[phoneauth.SignIn]
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, err := f.verify(phonePK, code)
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(&in)
			case errors.Is(err, phoneauth.ErrVerificationFailed):
				fails.Add(1)
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	phoneauth.WaitRefunds(f.auth) // the losers' sessions are deleted in the background
	if wins.Load() != 1 || fails.Load() != n-1 || bs.created.Load() != n {
		t.Fatalf("%d successes, %d failures, %d sessions created; want 1, %d, %d", wins.Load(), fails.Load(), bs.created.Load(), n-1, n)
	}
	in := winner.Load()
	sessions, err := f.auth.Sessions(context.Background(), in.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || sessions[0].ID != in.Session.ID {
		t.Fatalf("%d sessions left, want only the winner's", len(sessions))
	}
	if f.countEvents(phoneauth.EventVerified, nil) != 1 || f.countEvents(phoneauth.EventSignedIn, nil) != 1 {
		t.Fatalf("events: %d verified, %d signed in; want 1 each", f.countEvents(phoneauth.EventVerified, nil), f.countEvents(phoneauth.EventSignedIn, nil))
	}
}

// keyFailingLimiter is a Limiter that decides one limit at a time and
// whose Allow fails once for the key named by failKey.
type keyFailingLimiter struct {
	phoneauth.Limiter
	failKey atomic.Pointer[string]
}

func (l *keyFailingLimiter) Allow(ctx context.Context, key string, lim phoneauth.Limit, now time.Time) (bool, time.Duration, error) {
	if p := l.failKey.Load(); p != nil && *p == key && l.failKey.CompareAndSwap(p, nil) {
		return false, 0, errDown
	}
	return l.Limiter.Allow(ctx, key, lim, now)
}

// A limiter that decides one limit at a time and fails in the middle of a
// request's limits: the request is answered ErrStoreUnavailable and the
// limits it had passed (the cooldown first) get their event back, so that
// the retry is not refused.
func TestLimiterFailureMidwayGivesLimitsBack(t *testing.T) {
	lim := &keyFailingLimiter{Limiter: phoneauth.NewMemoryLimiter(0)}
	f := newFixture(t, func(c *phoneauth.Config) { c.Limiter = lim })
	key := "phoneauth:device:dev-1"
	lim.failKey.Store(&key)
	if _, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phonePK, DeviceID: "dev-1", IP: "192.0.2.1"}); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Fatalf("request with the device limit failing: %v", err)
	}
	phoneauth.WaitRefunds(f.auth)
	if _, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phonePK, DeviceID: "dev-1", IP: "192.0.2.1"}); err != nil {
		t.Fatalf("the retry: %v (the failed request kept its cooldown)", err)
	}
}

// sentTo counts the messages sent to phone.
func (f *fixture) sentTo(phone string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.sent {
		if m.To == phone {
			n++
		}
	}
	return n
}
