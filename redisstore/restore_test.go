package redisstore

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/internal/faultproxy"
	"github.com/redis/go-redis/v9"
)

var errInjected = errors.New("injected: connection reset")

// scriptFault is a go-redis hook that fails the next run of one script,
// once armed: before it reaches Redis, or (after) once Redis ran it, as a
// reply lost to a deadline. during, if set, runs first, as whatever
// happens meanwhile. With repeat, the script does not fail but runs twice
// and its caller gets the second answer, as when go-redis re-sends a
// command whose reply was lost to a dropped connection (CLIENT KILL, a
// reset).
type scriptFault struct {
	script *redis.Script
	after  bool
	repeat bool
	during func()
	armed  atomic.Bool
	fired  atomic.Int32
}

func (*scriptFault) DialHook(next redis.DialHook) redis.DialHook { return next }

func (*scriptFault) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (f *scriptFault) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.repeat && f.runs(cmd) && f.armed.Load() {
			if err := next(ctx, cmd); err != nil {
				return err // NOSCRIPT: the EVAL that follows is the run to repeat
			}
			if !f.armed.CompareAndSwap(true, false) {
				return nil
			}
			f.fired.Add(1)
			return next(ctx, cmd)
		}
		if !f.runs(cmd) || !f.armed.CompareAndSwap(true, false) {
			return next(ctx, cmd)
		}
		f.fired.Add(1)
		if f.during != nil {
			f.during()
		}
		if f.after {
			if err := next(ctx, cmd); err != nil {
				return err
			}
		}
		cmd.SetErr(errInjected)
		return errInjected
	}
}

// runs reports whether cmd runs f's script.
func (f *scriptFault) runs(cmd redis.Cmder) bool {
	args := cmd.Args()
	if len(args) < 2 {
		return false
	}
	body, _ := args[1].(string)
	switch cmd.Name() {
	case "evalsha":
		return body == f.script.Hash()
	case "eval":
		sum := sha1.Sum([]byte(body))
		return hex.EncodeToString(sum[:]) == f.script.Hash()
	}
	return false
}

// restoreEnv is an Authenticator on a Store and Limiter of a test prefix,
// with the per-address verification limit and the failed-verify budget at
// one event an hour and the conversion guard on, so that an event not
// given back refuses the retry.
type restoreEnv struct {
	auth  *phoneauth.Authenticator
	clock *phoneauth.ManualClock
	store *Store
	rdb   redis.UniversalClient
}

func newRestoreEnv(t *testing.T, cluster bool, configure func(*phoneauth.Config), hooks ...redis.Hook) *restoreEnv {
	t.Helper()
	var rdb redis.UniversalClient
	var prefix string
	if cluster {
		rdb, prefix = testClusterClient(t, hooks...)
	} else {
		rdb, prefix = testClient(t, hooks...)
	}
	return newRestoreEnvOn(t, rdb, prefix, configure)
}

// newRestoreEnvOn is newRestoreEnv on the client rdb, with keys under
// prefix.
func newRestoreEnvOn(t *testing.T, rdb redis.UniversalClient, prefix string, configure func(*phoneauth.Config)) *restoreEnv {
	t.Helper()
	clock := phoneauth.NewManualClock(t0)
	s := New(rdb, Options{Prefix: prefix, Clock: clock})
	key, err := phoneauth.GenerateEd25519Key("restore")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := phoneauth.Config{
		Store: s, Users: s, Limiter: NewLimiter(rdb, Options{Prefix: prefix}),
		Sender:      phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "id", nil }),
		Secret:      []byte("restore-test-secret-of-32-bytes!"),
		Tokens:      phoneauth.TokenConfig{Keys: keys},
		Clock:       clock,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Development: true,
		Limits: phoneauth.Limits{
			VerifyPerIP:          phoneauth.Limit{Events: 1, Per: time.Hour},
			FailedVerifies:       phoneauth.Limit{Events: 1, Per: time.Hour},
			RefreshPerIP:         phoneauth.Limit{Events: 1, Per: time.Hour},
			UnverifiedPerRange:   phoneauth.Limit{Events: 10, Per: time.Hour},
			UnverifiedPerCountry: phoneauth.Limit{Events: 100, Per: time.Hour},
		},
		AllowWeakCodes: true,
	}
	if configure != nil {
		configure(&cfg)
	}
	auth, err := phoneauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &restoreEnv{auth: auth, clock: clock, store: s, rdb: rdb}
}

const restorePhone = "+923001234567"

func (e *restoreEnv) request(t *testing.T) string {
	t.Helper()
	res, err := e.auth.Request(context.Background(), phoneauth.RequestParams{Phone: restorePhone, DeviceID: "dev", IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Code
}

func (e *restoreEnv) verify(code, ip string) (phoneauth.SignIn, error) {
	return e.auth.Verify(context.Background(), phoneauth.VerifyParams{Phone: restorePhone, Code: code, Device: phoneauth.Device{ID: "dev"}, IP: ip})
}

// limits returns the limiter keys a verification of restorePhone from
// 192.0.2.1 touches, with their values ("" for none): the address, the
// budget and the two guard buckets.
func (e *restoreEnv) limits(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range []string{"verify-ip:192.0.2.1", "verify:" + restorePhone, "unverified-range:+923001234", "unverified-country:PK"} {
		v, err := e.rdb.Get(context.Background(), e.store.keys.limit("phoneauth:"+k)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// challenge returns the fields of the pending challenge of restorePhone's
// device "dev" (none: an empty map) and whether its tombstone exists.
func (e *restoreEnv) challenge(t *testing.T) (map[string]string, bool) {
	t.Helper()
	ctx := context.Background()
	key := "login:" + restorePhone + "#" + deviceHash("dev")
	c, err := e.rdb.HGetAll(ctx, e.store.keys.challenge(key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.rdb.Exists(ctx, e.store.keys.consumed(key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return c, n == 1
}

func forEachClient(t *testing.T, test func(t *testing.T, cluster bool)) {
	t.Run("server", func(t *testing.T) { test(t, false) })
	t.Run("cluster", func(t *testing.T) { test(t, true) })
}

// A verification whose second or third script fails, before Redis ran it
// or after (a lost reply), is answered ErrStoreUnavailable and has changed
// nothing: the challenge is back as it was after its attempt, the limits
// are as before the call, and the retry with the same code signs in with
// one session.
func TestFailedSignInRestoresTheCode(t *testing.T) {
	forEachClient(t, func(t *testing.T, cluster bool) {
		for _, step := range []struct {
			name   string
			script *redis.Script
			after  bool
		}{
			{"verifyChallenge", verifyChallenge, false},
			{"verifyChallenge ran", verifyChallenge, true},
			{"signInUser", signInUser, false},
			{"signInUser ran", signInUser, true},
			{"createSession", createSession, false},
			{"createSession ran", createSession, true},
		} {
			t.Run(step.name, func(t *testing.T) {
				fault := &scriptFault{script: step.script, after: step.after}
				e := newRestoreEnv(t, cluster, nil, fault)
				code := e.request(t)
				limits := e.limits(t)
				before, _ := e.challenge(t)
				fault.armed.Store(true)
				if _, err := e.verify(code, "192.0.2.1"); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
					t.Fatalf("verify with %s failing: %v, want ErrStoreUnavailable", step.name, err)
				}
				if fault.fired.Load() != 1 {
					t.Fatalf("the fault fired %d times, want 1", fault.fired.Load())
				}
				attempts := "1"
				if step.script == verifyChallenge && !step.after {
					attempts = "0" // Redis never saw the verification
				}
				after, tomb := e.challenge(t)
				if tomb || after["hash"] != before["hash"] || after["id"] != before["id"] || after["expires_at"] != before["expires_at"] || after["attempts"] != attempts {
					t.Fatalf("challenge after the failed call: id %q, %q attempts (tombstone %v), want id %q with %s attempts", after["id"], after["attempts"], tomb, before["id"], attempts)
				}
				if got := e.limits(t); !equalMaps(got, limits) {
					t.Fatalf("limits after the failed call: %v, want as before: %v", got, limits)
				}
				in, err := e.verify(code, "192.0.2.1")
				if err != nil {
					t.Fatalf("the retry with the same code: %v", err)
				}
				sessions, err := e.auth.Sessions(context.Background(), in.User.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(sessions) != 1 || sessions[0].ID != in.Session.ID {
					t.Fatalf("sessions after the retry: %d, want only the retry's", len(sessions))
				}
				if _, err := e.verify(code, "192.0.2.2"); !errors.Is(err, phoneauth.ErrVerificationFailed) {
					t.Fatalf("the code once used: %v, want ErrVerificationFailed", err)
				}
			})
		}
	})
}

// A sign-in that fails because Redis ran out of memory (maxmemory with
// noeviction: every command that needs memory is refused) gives the code
// back all the same, and the limits' events: the restore puts the
// challenge back first, with commands that need no memory (Redis refuses
// a script's first write when it needs memory, and no later one), and the
// retry with the same code signs in once Redis has memory again.
func TestSignInOutOfMemoryRestoresTheCode(t *testing.T) {
	srv := newPrivateServer(t, "--maxmemory-policy", "noeviction")
	admin := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { admin.Close() })
	setMaxMemory := func(v string) {
		if err := admin.ConfigSet(context.Background(), "maxmemory", v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	fault := &scriptFault{script: signInUser, during: func() { setMaxMemory("1") }}
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true})
	rdb.AddHook(fault)
	t.Cleanup(func() { rdb.Close() })
	e := newRestoreEnvOn(t, rdb, "phoneauth-oom", func(c *phoneauth.Config) {
		c.Limits.VerifyPerIP = phoneauth.Limit{}    // the defaults: room for a wrong guess and the
		c.Limits.FailedVerifies = phoneauth.Limit{} // retry after an event that cannot be given back
	})
	code := e.request(t)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	// A wrong guess first: giving the address's second event back then
	// writes its bucket (a SET, which needs memory), not deletes it.
	if _, err := e.verify(wrong, "192.0.2.1"); !errors.Is(err, phoneauth.ErrInvalidOTP) {
		t.Fatalf("a wrong guess: %v, want ErrInvalidOTP", err)
	}
	limits := e.limits(t)
	delete(limits, "verify:"+restorePhone) // the failed-verify budget, which the right code resets
	fault.armed.Store(true)
	if _, err := e.verify(code, "192.0.2.1"); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Fatalf("verify out of memory: %v, want ErrStoreUnavailable", err)
	}
	if c, tomb := e.challenge(t); len(c) == 0 || tomb {
		t.Fatalf("after the sign-in failed out of memory: challenge %v, tombstone %v; want the code back", c, tomb)
	}
	got := e.limits(t)
	delete(got, "verify:"+restorePhone)
	if !equalMaps(got, limits) {
		t.Fatalf("limits after the sign-in failed out of memory: %v, want as before: %v", got, limits)
	}
	setMaxMemory("0")
	if _, err := e.verify(code, "192.0.2.1"); err != nil {
		t.Fatalf("the retry with the same code, with memory again: %v", err)
	}
}

// The restore cannot bring back a code that was replaced and used in the
// meantime: while the first verification's sign-in hangs, the user asks
// for a new code and signs in with it; the first verification then fails,
// and its old code stays used up.
func TestRestoreKeepsAUsedCodeUsed(t *testing.T) {
	forEachClient(t, func(t *testing.T, cluster bool) {
		fault := &scriptFault{script: signInUser}
		e := newRestoreEnv(t, cluster, nil, fault)
		old := e.request(t)
		e.clock.Advance(time.Minute) // past the resend cooldown
		fault.during = func() {
			code := e.request(t)
			if _, err := e.verify(code, "192.0.2.3"); err != nil {
				t.Errorf("the sign-in with the new code: %v", err)
			}
		}
		fault.armed.Store(true)
		if _, err := e.verify(old, "192.0.2.1"); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Fatalf("the first verification: %v, want ErrStoreUnavailable", err)
		}
		if c, _ := e.challenge(t); len(c) != 0 {
			t.Fatalf("a challenge is back after the new code was used: %v", c)
		}
		if _, err := e.verify(old, "192.0.2.4"); !errors.Is(err, phoneauth.ErrVerificationFailed) {
			t.Fatalf("the old code: %v, want ErrVerificationFailed", err)
		}
	})
}

// Concurrent verifications of one right code while the sign-in of the
// one that consumed it fails: at most one signs in, and if none did, the
// code is back and the retry signs in; either way the user ends with one
// session.
func TestConcurrentVerifyWithARestore(t *testing.T) {
	forEachClient(t, func(t *testing.T, cluster bool) {
		const n = 20
		fault := &scriptFault{script: signInUser}
		e := newRestoreEnv(t, cluster, func(c *phoneauth.Config) {
			c.MaxAttempts = 2 * n
			c.Limits.VerifyPerIP = phoneauth.Unlimited
		}, fault)
		code := e.request(t)
		fault.armed.Store(true)
		var wins, outages atomic.Int32
		var winner atomic.Pointer[phoneauth.SignIn]
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in, err := e.verify(code, "192.0.2.1")
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(&in)
				case errors.Is(err, phoneauth.ErrStoreUnavailable):
					outages.Add(1)
				case !errors.Is(err, phoneauth.ErrVerificationFailed):
					t.Errorf("unexpected error %v", err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() > 1 || outages.Load() != 1 {
			t.Fatalf("%d sign-ins and %d unavailable; want at most 1 and exactly 1", wins.Load(), outages.Load())
		}
		in, err := e.verify(code, "192.0.2.1")
		switch {
		case wins.Load() == 1 && !errors.Is(err, phoneauth.ErrVerificationFailed):
			t.Fatalf("the code after a sign-in: %v, want ErrVerificationFailed", err)
		case wins.Load() == 0 && err != nil:
			t.Fatalf("the retry after no sign-in: %v, want the restored code to sign in", err)
		case wins.Load() == 0:
			winner.Store(&in)
		}
		sessions, err := e.auth.Sessions(context.Background(), winner.Load().User.ID)
		if err != nil || len(sessions) != 1 {
			t.Fatalf("%d sessions, %v; want 1", len(sessions), err)
		}
	})
}

// Run twice, the restore acts once: after a restore, a verification that
// used the code, and the same restore again (a command sent twice), the
// code stays used.
func TestRestoreRunsOnce(t *testing.T) {
	forEachClient(t, func(t *testing.T, cluster bool) {
		fault := &scriptFault{script: createSession}
		var restore []any
		e := newRestoreEnv(t, cluster, nil, fault, &captureHook{script: restoreChallenge, args: &restore})
		code := e.request(t)
		fault.armed.Store(true)
		if _, err := e.verify(code, "192.0.2.1"); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Fatalf("verify with createSession failing: %v", err)
		}
		if len(restore) == 0 {
			t.Fatal("no restore was sent")
		}
		if _, err := e.verify(code, "192.0.2.1"); err != nil {
			t.Fatalf("the retry: %v", err)
		}
		n, err := e.rdb.Do(context.Background(), restore...).Int64()
		if err != nil || n != 0 {
			t.Fatalf("the restore sent again: %d, %v; want 0 (nothing done)", n, err)
		}
		if c, _ := e.challenge(t); len(c) != 0 {
			t.Fatalf("the used code is back: %v", c)
		}
	})
}

// captureHook records the command of the last run of a script, as an
// EVALSHA.
type captureHook struct {
	script *redis.Script
	args   *[]any
}

func (*captureHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (*captureHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *captureHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if (&scriptFault{script: h.script}).runs(cmd) {
			args := append([]any{}, cmd.Args()...)
			args[0], args[1] = "evalsha", h.script.Hash()
			*h.args = args
		}
		return next(ctx, cmd)
	}
}

// A request whose script fails, before Redis ran it or after (a lost
// reply: the challenge and the cooldown were stored), is answered
// ErrStoreUnavailable and has changed nothing: the retry is not refused by
// the cooldown, and its code is the one that verifies.
func TestFailedIssueChangesNothing(t *testing.T) {
	forEachClient(t, func(t *testing.T, cluster bool) {
		for _, after := range []bool{false, true} {
			fault := &scriptFault{script: issueChallenge, after: after}
			e := newRestoreEnv(t, cluster, nil, fault)
			fault.armed.Store(true)
			_, err := e.auth.Request(context.Background(), phoneauth.RequestParams{Phone: restorePhone, DeviceID: "dev", IP: "192.0.2.1"})
			if !errors.Is(err, phoneauth.ErrStoreUnavailable) {
				t.Fatalf("request with its script failing (after %v): %v", after, err)
			}
			if c, _ := e.challenge(t); len(c) != 0 {
				t.Fatalf("a challenge is stored after the failed request (after %v)", after)
			}
			code := e.request(t)
			if _, err := e.verify(code, "192.0.2.1"); err != nil {
				t.Fatalf("verifying the retry's code (after %v): %v", after, err)
			}
		}
	})
}

// A request or a verification one of whose scripts Redis runs twice
// (go-redis re-sends a command whose connection dropped before the reply)
// is answered as if it had run once: the request is not refused by the
// cooldown its first run started, and the right code signs in a new user,
// with one session, although the verification's first run consumed the
// code and charged the address's only verification event of the hour, the
// user's first run created the user, and the session's stored the session.
func TestRepeatedScriptRunsOnce(t *testing.T) {
	forEachClient(t, func(t *testing.T, cluster bool) {
		for _, script := range []*redis.Script{issueChallenge, verifyChallenge, signInUser, createSession} {
			fault := &scriptFault{script: script, repeat: true}
			e := newRestoreEnv(t, cluster, nil, fault)
			fault.armed.Store(script == issueChallenge)
			code := e.request(t)
			fault.armed.Store(script != issueChallenge)
			in, err := e.verify(code, "192.0.2.1")
			if err != nil {
				t.Fatalf("verify with %s run twice: %v", scriptName(script), err)
			}
			if !in.IsNewUser {
				t.Fatalf("verify with %s run twice: not a new user, although the first run created it", scriptName(script))
			}
			if fault.fired.Load() != 1 {
				t.Fatalf("%s: the fault fired %d times, want 1", scriptName(script), fault.fired.Load())
			}
			sessions, err := e.auth.Sessions(context.Background(), in.User.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(sessions) != 1 || sessions[0].ID != in.Session.ID {
				t.Fatalf("sessions after %s ran twice: %d, want the one signed in", scriptName(script), len(sessions))
			}
			if c, _ := e.challenge(t); len(c) != 0 {
				t.Fatalf("the code is pending again after %s ran twice: %v", scriptName(script), c)
			}
		}
	})
}

// scriptName names the route scripts in messages.
func scriptName(s *redis.Script) string {
	switch s {
	case issueChallenge:
		return "issueChallenge"
	case verifyChallenge:
		return "verifyChallenge"
	case signInUser:
		return "signInUser"
	case createSession:
		return "createSession"
	}
	return s.Hash()
}

// A refresh whose rotation fails, before Redis ran it or after, gives the
// refresh's address limit its event back: with the limit at one event, the
// retry is not refused, and gets the rotation (a retry of a rotation that
// happened is answered as it was, within the reuse grace).
func TestFailedRotationGivesLimitsBack(t *testing.T) {
	forEachClient(t, func(t *testing.T, cluster bool) {
		for _, after := range []bool{false, true} {
			fault := &scriptFault{script: rotateRefresh, after: after}
			e := newRestoreEnv(t, cluster, nil, fault)
			in, err := e.verify(e.request(t), "192.0.2.1")
			if err != nil {
				t.Fatal(err)
			}
			refresh := phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "192.0.2.1"}
			fault.armed.Store(true)
			if _, err := e.auth.Refresh(context.Background(), refresh); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
				t.Fatalf("refresh with the rotation failing (after %v): %v", after, err)
			}
			next, err := e.auth.Refresh(context.Background(), refresh)
			if err != nil {
				t.Fatalf("the retry (after %v): %v", after, err)
			}
			_, err = e.auth.Refresh(context.Background(), phoneauth.RefreshParams{RefreshToken: next.Tokens.RefreshToken, IP: "192.0.2.1"})
			var rl *phoneauth.RateLimitError
			if !errors.As(err, &rl) || rl.Scope != "refresh-ip" {
				t.Fatalf("a third refresh from the address: %v, want refused by refresh-ip", err)
			}
		}
	})
}

// TestRoutesPaused holds back all traffic to Redis: each route call is
// answered ErrStoreUnavailable by its deadline plus the margin its undo
// adds (restoreTimeout), also with more callers than the pool has
// connections; once traffic flows again, the same client works.
func TestRoutesPaused(t *testing.T) {
	proxy, rdb := newPausableClient(t)
	s := New(rdb, Options{Clock: phoneauth.NewManualClock(t0)})
	ctx := context.Background()
	limit := phoneauth.Limit{Events: 1 << 30, Per: time.Second}
	checks := []phoneauth.LimitCheck{{Key: "k", Limit: limit}}
	c := testChallenge("login:+15550000010")
	if _, _, err := s.IssueChallenge(ctx, phoneauth.IssueRoute{Checks: checks, Challenge: c, Now: t0}); err != nil {
		t.Fatal(err)
	}
	sess := testSession("user-1", t0)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	verify := phoneauth.VerifyRoute{Key: c.Key, Now: t0, AddressChecks: checks, CodeHashes: [][]byte{c.CodeHash},
		Signup: phoneauth.SignupAllowed}
	calls := []faultproxy.Call{
		{Name: "IssueChallenge", Run: func(ctx context.Context) error {
			_, _, err := s.IssueChallenge(ctx, phoneauth.IssueRoute{Checks: checks, Challenge: testChallenge("login:+15550000011"), Now: t0})
			return err
		}},
		{Name: "VerifyChallenge", Run: func(ctx context.Context) error {
			r := verify
			r.Session = testSession("", t0)
			_, err := s.VerifyChallenge(ctx, r)
			return err
		}},
		{Name: "RefreshSession", Run: func(ctx context.Context) error {
			_, _, _, err := s.RefreshSession(ctx, checks, phoneauth.Rotation{SessionID: sess.ID, OldHash: sess.RefreshHash,
				NewHash: []byte("n"), NewExpiresAt: t0.Add(time.Hour), Now: t0})
			return err
		}},
	}
	proxy.Pause()
	faultproxy.CheckDeadlines(t, calls, phoneauth.ErrStoreUnavailable, 250*time.Millisecond, restoreTimeout+time.Second, 12)
	proxy.Resume()
	// What the paused calls sent reaches Redis now, in no set order; a new
	// code is not affected.
	c = testChallenge("login:+15550000012")
	if _, _, err := s.IssueChallenge(ctx, phoneauth.IssueRoute{Checks: checks, Challenge: c, Now: t0}); err != nil {
		t.Fatalf("request after the pause: %v", err)
	}
	r := verify
	r.Key, r.CodeHashes, r.Session = c.Key, [][]byte{c.CodeHash}, testSession("", t0)
	out, err := s.VerifyChallenge(ctx, r)
	if err != nil || out.Result != phoneauth.VerifySignedIn {
		t.Fatalf("verify after the pause: %v, %v; want signed in", out.Result, err)
	}
}

// deviceHash is the device part of a login challenge's key.
func deviceHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A phone confirmation whose consume (DeleteChallenge, call by call) go-redis
// sends twice, its connection dropped before the reply, is answered as if
// it had run once: it succeeds, the phone is the user's, and the user's
// other session ends. (The repetition used to answer the code as none
// pending, after the phone had been set, leaving the other session live.)
// Another call's consume of the same code still finds it gone.
func TestRepeatedConsumeOfAPhoneConfirmation(t *testing.T) {
	forEachClient(t, func(t *testing.T, cluster bool) {
		fault := &scriptFault{script: deleteChallenge, repeat: true}
		e := newRestoreEnv(t, cluster, nil, fault)
		in, err := e.verify(e.request(t), "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute) // past the resend cooldown
		other, err := e.auth.Verify(context.Background(), phoneauth.VerifyParams{Phone: restorePhone, Code: e.request(t), Device: phoneauth.Device{ID: "dev"}, IP: "192.0.2.2"})
		if err != nil {
			t.Fatal(err)
		}
		const newPhone = "+923001234999"
		pv, err := e.auth.StartPhoneVerification(context.Background(), phoneauth.PhoneVerificationParams{UserID: in.User.ID, SessionID: in.Session.ID, Phone: newPhone, DeviceID: "dev", IP: "192.0.2.3"})
		if err != nil {
			t.Fatal(err)
		}
		fault.armed.Store(true)
		err = e.auth.ConfirmPhoneVerification(context.Background(), phoneauth.ConfirmPhoneVerificationParams{UserID: in.User.ID, SessionID: in.Session.ID, Phone: newPhone, RequestID: pv.RequestID, Code: pv.Code, IP: "192.0.2.3"})
		if err != nil || fault.fired.Load() != 1 {
			t.Fatalf("confirm with its consume sent twice: %v (the fault fired %d times)", err, fault.fired.Load())
		}
		if u, err := e.store.UserByPhone(context.Background(), newPhone); err != nil || u.ID != in.User.ID {
			t.Fatalf("the new phone's user: %+v, %v; want %s", u, err, in.User.ID)
		}
		if _, err := e.store.GetSession(context.Background(), other.Session.ID, e.clock.Now()); !errors.Is(err, phoneauth.ErrNotFound) {
			t.Fatalf("the user's other session after the phone changed: %v, want ErrNotFound (ended)", err)
		}
		key := "phone-verification:" + in.User.ID + ":" + newPhone
		if err := e.store.DeleteChallenge(context.Background(), key, pv.RequestID); !errors.Is(err, phoneauth.ErrNotFound) {
			t.Fatalf("another consume of the used code: %v, want ErrNotFound", err)
		}
	})
}

// A verification whose script Redis runs only after its restore (both held
// back by a paused Redis, the restore reaching it first) changes nothing:
// the restore, finding no tombstone of the verification, vetoes it, and the
// late script leaves the code as it was, so that the retry with the same
// code signs in.
func TestVerificationAfterItsRestoreIsVetoed(t *testing.T) {
	forEachClient(t, func(t *testing.T, cluster bool) {
		var held []any
		fault := &scriptFault{script: verifyChallenge} // fails before Redis sees it
		e := newRestoreEnv(t, cluster, nil, &captureHook{script: verifyChallenge, args: &held}, fault)
		code := e.request(t)
		before, _ := e.challenge(t)
		limits := e.limits(t)
		fault.armed.Store(true)
		if _, err := e.verify(code, "192.0.2.1"); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Fatalf("verify with its script held back: %v, want ErrStoreUnavailable", err)
		}
		if len(held) == 0 {
			t.Fatal("the verification's script was not captured")
		}
		if err := e.rdb.Do(context.Background(), held...).Err(); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("the held-back script, run late: %v", err)
		}
		after, tomb := e.challenge(t)
		if tomb || after["id"] != before["id"] || after["attempts"] != before["attempts"] {
			t.Fatalf("challenge after the late script: id %q, %q attempts (tombstone %v); want id %q, %q attempts", after["id"], after["attempts"], tomb, before["id"], before["attempts"])
		}
		if got := e.limits(t); !equalMaps(got, limits) {
			t.Fatalf("limits after the late script: %v, want as before: %v", got, limits)
		}
		if _, err := e.verify(code, "192.0.2.1"); err != nil {
			t.Fatalf("the retry with the same code: %v", err)
		}
	})
}
