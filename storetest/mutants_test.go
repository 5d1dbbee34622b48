package storetest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// The suite is checked against mutants: copies of the memory store with
// one contract bug each, as a backend might have it. Each mutant must fail
// the clause written to catch it, and that clause must pass on the memory
// store itself. A mutant runs in a child process (this test binary, run
// again with mutantEnv set), so that its failure does not fail this test.

// mutantEnv names the mutant a child process runs.
const mutantEnv = "STORETEST_MUTANT"

// A mutantCase is a bug and the clause that must catch it.
type mutantCase struct {
	bug    string // see mutant
	group  string // "Challenges", "Sessions", "Replicas" or "Limiter"
	clause string
}

var mutantCases = []mutantCase{
	{"get-ignores-expiry", "Challenges", "GetExpiredFirstCall"},
	{"attempt-ignores-expiry", "Challenges", "AttemptExpiredFirstCall"},
	{"delete-check-then-write", "Challenges", "ConcurrentDeleteRounds"},
	{"attempt-check-then-write", "Challenges", "ConcurrentAttemptRounds"},
	{"rotate-ignores-session-expiry", "Sessions", "ExpiredFirstCall"},
	{"list-ignores-expiry", "Sessions", "ExpiredFirstCall"},
	{"grace-forgets-replaced", "Sessions", "ReuseGrace"},
	{"rotate-check-then-write", "Sessions", "ConcurrentRotateRounds"},
	{"compare-before-count", "Replicas", "ConcurrentWrongGuessesCapped"},
	{"zero-events-allowed", "Limiter", "ZeroEventsRefuses"},
	{"off-recorded", "Limiter", "OffAllowsAndRecordsNothing"},
}

func TestMutantsAreCaught(t *testing.T) {
	if bug := os.Getenv(mutantEnv); bug != "" {
		runMutant(t, bug)
		return
	}
	if testing.Short() {
		t.Skip("runs a child process per mutant")
	}
	for _, m := range mutantCases {
		t.Run(m.bug, func(t *testing.T) {
			// The clause passes on the memory store…
			runClause(t, m, func() phoneauth.Store { return phoneauth.NewMemoryStore() })
			// …and fails on the mutant.
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutantsAreCaught$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), mutantEnv+"="+m.bug)
			out, err := cmd.CombinedOutput()
			failed := "--- FAIL: TestMutantsAreCaught/" + m.clause
			if err == nil || !strings.Contains(string(out), failed) {
				t.Fatalf("clause %s/%s did not catch the mutant %q (exit: %v); output:\n%s", m.group, m.clause, m.bug, err, out)
			}
		})
	}
}

// runMutant runs, in a child process, the clause that must catch bug
// against a mutant with it.
func runMutant(t *testing.T, bug string) {
	i := slices.IndexFunc(mutantCases, func(m mutantCase) bool { return m.bug == bug })
	if i < 0 {
		t.Fatalf("unknown mutant %q", bug)
	}
	runClause(t, mutantCases[i], func() phoneauth.Store { return newMutant(bug) })
}

// runClause runs m's clause, as a subtest named after it, on the stores
// newStore returns.
func runClause(t *testing.T, m mutantCase, newStore func() phoneauth.Store) {
	t.Run(m.clause, func(t *testing.T) {
		switch m.group {
		case "Challenges":
			i := slices.IndexFunc(challengeTests, func(c challengeTest) bool { return c.name == m.clause })
			challengeTests[i].fn(t, newStore())
		case "Sessions":
			i := slices.IndexFunc(sessionTests, func(c sessionTest) bool { return c.name == m.clause })
			sessionTests[i].fn(t, newStore())
		case "Replicas":
			i := slices.IndexFunc(replicaTests, func(c replicaTest) bool { return c.name == m.clause })
			replicaTests[i].fn(t, newReplicas(t, func(*testing.T) (phoneauth.Store, phoneauth.Limiter) {
				return newStore(), phoneauth.NewMemoryLimiter(0)
			}))
		case "Limiter":
			i := slices.IndexFunc(limiterTests, func(c limiterTest) bool { return c.name == m.clause })
			var lim phoneauth.Limiter = phoneauth.NewMemoryLimiter(0)
			if mut, ok := newStore().(*mutant); ok { // a limiter bug rides on the store's mutant
				lim = &mutantLimiter{Limiter: lim, bug: mut.bug}
			}
			limiterTests[i].fn(t, &limiterCheck{Limiter: lim, now: start, key: "storetest:" + randomString(16)})
		}
	})
}

// A mutant is a memory store with one bug.
type mutant struct {
	phoneauth.Store
	bug string

	mu         sync.Mutex
	realExpiry map[string]time.Time // rotate-ignores-session-expiry: session id → ExpiresAt
	forgotten  map[string]bool      // grace-forgets-replaced: token hashes it has lost
}

func newMutant(bug string) *mutant {
	return &mutant{Store: phoneauth.NewMemoryStore(), bug: bug, realExpiry: map[string]time.Time{}, forgotten: map[string]bool{}}
}

// gap is the window of a check-then-write bug: a release and a new
// acquisition of the store's lock, and a chance for another goroutine to
// run in between (a real backend's gap is a round trip, far wider). With
// no yield at all the window is a few nanoseconds in one process, and 100
// rounds catch it only now and then.
func gap() { runtime.Gosched() }

func (m *mutant) GetChallenge(ctx context.Context, key string, now time.Time) (phoneauth.Challenge, error) {
	if m.bug == "get-ignores-expiry" {
		now = time.Time{} // the zero time is before any expiry
	}
	return m.Store.GetChallenge(ctx, key, now)
}

func (m *mutant) AttemptChallenge(ctx context.Context, key, id string, now time.Time) (phoneauth.Challenge, error) {
	switch m.bug {
	case "attempt-ignores-expiry":
		return m.Store.AttemptChallenge(ctx, key, id, time.Time{}) // the zero time is before any expiry
	case "attempt-check-then-write", "compare-before-count":
		c, err := m.Store.GetChallenge(ctx, key, now)
		if err != nil || (id != "" && c.ID != id) || c.Attempts >= c.MaxAttempts {
			return phoneauth.Challenge{}, phoneauth.ErrNotFound
		}
		if m.bug == "compare-before-count" {
			// The caller compares the code now and the attempt is
			// counted later, as by an Authenticator that compares
			// before counting.
			go func() {
				time.Sleep(time.Millisecond)
				_, _ = m.Store.AttemptChallenge(ctx, key, c.ID, now)
			}()
		} else {
			gap()
			_, _ = m.Store.AttemptChallenge(ctx, key, c.ID, now)
		}
		c.Attempts++
		return c, nil
	}
	return m.Store.AttemptChallenge(ctx, key, id, now)
}

func (m *mutant) DeleteChallenge(ctx context.Context, key, id string) error {
	if m.bug != "delete-check-then-write" {
		return m.Store.DeleteChallenge(ctx, key, id)
	}
	c, err := m.Store.GetChallenge(ctx, key, time.Time{})
	if err != nil || c.ID != id {
		return phoneauth.ErrNotFound
	}
	gap()
	_ = m.Store.DeleteChallenge(ctx, key, id)
	return nil
}

// farFuture is the session expiry the rotate-ignores-session-expiry mutant
// stores, so that RotateRefresh never sees the real one.
var farFuture = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)

func (m *mutant) CreateSession(ctx context.Context, s phoneauth.Session) error {
	if m.bug == "rotate-ignores-session-expiry" {
		m.mu.Lock()
		m.realExpiry[s.ID] = s.ExpiresAt
		m.mu.Unlock()
		s.ExpiresAt = farFuture
	}
	return m.Store.CreateSession(ctx, s)
}

// restore gives s back its real expiry, and reports whether it is live at
// now (rotate-ignores-session-expiry; other mutants store the real one).
func (m *mutant) restore(s *phoneauth.Session, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if real, ok := m.realExpiry[s.ID]; ok {
		s.ExpiresAt = real
	}
	return now.Before(s.ExpiresAt)
}

func (m *mutant) GetSession(ctx context.Context, id string, now time.Time) (phoneauth.Session, error) {
	s, err := m.Store.GetSession(ctx, id, now)
	if err != nil || !m.restore(&s, now) {
		return phoneauth.Session{}, phoneauth.ErrNotFound
	}
	return s, nil
}

func (m *mutant) ListSessions(ctx context.Context, userID string, now time.Time) ([]phoneauth.Session, error) {
	if m.bug == "list-ignores-expiry" {
		return m.Store.ListSessions(ctx, userID, time.Time{})
	}
	list, err := m.Store.ListSessions(ctx, userID, now)
	return slices.DeleteFunc(list, func(s phoneauth.Session) bool { return !m.restore(&s, now) }), err
}

func (m *mutant) RotateRefresh(ctx context.Context, r phoneauth.Rotation) (phoneauth.Session, error) {
	switch m.bug {
	case "rotate-ignores-session-expiry":
		s, err := m.Store.RotateRefresh(ctx, r)
		m.restore(&s, r.Now) // the bug: whether the session is live is not checked
		return s, err
	case "grace-forgets-replaced":
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.forgotten[string(r.OldHash)] {
			return phoneauth.Session{}, phoneauth.ErrNotFound
		}
		cur, _ := m.Store.GetSession(ctx, r.SessionID, r.Now)
		s, err := m.Store.RotateRefresh(ctx, r)
		if err == nil && !bytes.Equal(cur.RefreshHash, r.OldHash) {
			m.forgotten[string(cur.RefreshHash)] = true // a grace rotation loses the token it replaced
		}
		return s, err
	case "rotate-check-then-write":
		s, err := m.Store.GetSession(ctx, r.SessionID, r.Now)
		if err != nil || !bytes.Equal(s.RefreshHash, r.OldHash) {
			return m.Store.RotateRefresh(ctx, r) // not the current token: as usual
		}
		gap()
		// Checked: the write replaces whatever token is current by now,
		// without asking whether it is still the one checked.
		if s, err := m.Store.GetSession(ctx, r.SessionID, r.Now); err == nil {
			r.OldHash = s.RefreshHash
		}
		return m.Store.RotateRefresh(ctx, r)
	}
	return m.Store.RotateRefresh(ctx, r)
}

// A mutantLimiter is a memory limiter with one bug.
type mutantLimiter struct {
	phoneauth.Limiter
	bug string
}

func (m *mutantLimiter) Allow(ctx context.Context, key string, l phoneauth.Limit, now time.Time) (bool, time.Duration, error) {
	switch {
	case m.bug == "zero-events-allowed" && l.Events == 0:
		return true, 0, nil
	case m.bug == "off-recorded" && l.Off():
		// An Off limit counted on the key's one bucket, as a limiter
		// with a bucket per key would if it took Off for a large limit.
		_, _, err := m.Limiter.Allow(ctx, key, phoneauth.Limit{Events: 2, Per: time.Hour}, now)
		return true, 0, err
	}
	return m.Limiter.Allow(ctx, key, l, now)
}
