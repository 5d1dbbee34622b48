package sqlitestore

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// Tests with two operating-system processes on one database file: this
// test binary runs again as a child, told what to do by childEnv.
const childEnv = "SQLITESTORE_TEST_CHILD" // role:path:prefix

// The shared entries of a race between processes.
const (
	raceEntries    = 60 // challenges to consume, sessions to rotate
	raceAttempts   = 25 // MaxAttempts of the attempted challenge
	raceLimit      = 10 // events allowed on the limited key
	raceGoroutines = 3  // per process
)

// raceTime is the time of every call of the race.
var raceTime = time.Date(2030, time.March, 4, 10, 20, 30, 0, time.UTC)

// raceHash is a deterministic token hash of the race's entries.
func raceHash(parts ...any) []byte {
	h := sha256.Sum256([]byte(fmt.Sprint(parts...)))
	return h[:]
}

func raceChallenge(prefix string, i int) phoneauth.Challenge {
	phone := fmt.Sprintf("+999%s%04d", prefix, i)
	return phoneauth.Challenge{
		Key: "login:" + phone, ID: fmt.Sprintf("%s-c%d", prefix, i), Phone: phone, Channel: phoneauth.SMS,
		CodeHash: raceHash(prefix, "code", i), MaxAttempts: 5, CreatedAt: raceTime, ExpiresAt: raceTime.Add(time.Hour),
	}
}

func raceSession(prefix string, i int) phoneauth.Session {
	return phoneauth.Session{
		ID: fmt.Sprintf("%s-s%d", prefix, i), UserID: "user-" + prefix, Phone: "+999" + prefix, Device: phoneauth.Device{ID: "d"},
		CreatedAt: raceTime, ExpiresAt: raceTime.Add(24 * time.Hour), RefreshHash: raceHash(prefix, "token", i),
		RefreshedAt: raceTime, RefreshExpiresAt: raceTime.Add(time.Hour),
	}
}

// attempted is the challenge both processes attempt.
func attempted(prefix string) phoneauth.Challenge {
	c := raceChallenge(prefix, raceEntries)
	c.MaxAttempts = raceAttempts
	return c
}

// raceTally counts what one process won.
type raceTally struct {
	deleted, rotated            []int
	attempts, allowed, failures int
}

// raceEntry runs one process's side of the race on entry i: it consumes
// the entry's challenge, rotates its session's first token, attempts the
// attempted challenge and takes an event on the limited key, at raceTime.
// The other process does the same at the same moment.
func (t *raceTally) raceEntry(s *Store, prefix, proc string, i int) {
	c, sess := raceChallenge(prefix, i), raceSession(prefix, i)
	var delErr, rotErr, attErr, limErr error
	var ok bool
	var wg sync.WaitGroup
	wg.Go(func() { delErr = s.DeleteChallenge(ctx, c.Key, c.ID) })
	wg.Go(func() {
		_, rotErr = s.RotateRefresh(ctx, phoneauth.Rotation{SessionID: sess.ID, OldHash: sess.RefreshHash,
			NewHash: raceHash(prefix, proc, i), NewExpiresAt: raceTime.Add(time.Hour), Now: raceTime})
	})
	wg.Go(func() { _, attErr = s.AttemptChallenge(ctx, attempted(prefix).Key, "", raceTime) })
	wg.Go(func() {
		ok, _, limErr = s.Limiter().Allow(ctx, "race:"+prefix, phoneauth.Limit{Events: raceLimit, Per: time.Hour}, raceTime)
	})
	wg.Wait()
	if delErr == nil {
		t.deleted = append(t.deleted, i)
	}
	if rotErr == nil {
		t.rotated = append(t.rotated, i)
	}
	if attErr == nil {
		t.attempts++
	}
	if ok {
		t.allowed++
	}
	for _, err := range []error{delErr, rotErr, attErr, limErr} {
		if err != nil && !errors.Is(err, phoneauth.ErrNotFound) && !errors.Is(err, phoneauth.ErrTokenReused) {
			t.failures++
		}
	}
}

// report writes t for the parent: one line per field.
func (t *raceTally) report(w io.Writer) {
	join := func(xs []int) string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = strconv.Itoa(x)
		}
		return strings.Join(s, ",")
	}
	fmt.Fprintf(w, "deleted %s\nrotated %s\nattempts %d\nallowed %d\nfailures %d\n", join(t.deleted), join(t.rotated), t.attempts, t.allowed, t.failures)
}

// parseTally reads what report wrote.
func parseTally(t *testing.T, out string) *raceTally {
	var tally raceTally
	for line := range strings.Lines(out) {
		field, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		ints := func() (xs []int) {
			for f := range strings.SplitSeq(value, ",") {
				if n, err := strconv.Atoi(f); err == nil {
					xs = append(xs, n)
				}
			}
			return xs
		}
		n, _ := strconv.Atoi(value)
		switch field {
		case "deleted":
			tally.deleted = ints()
		case "rotated":
			tally.rotated = ints()
		case "attempts":
			tally.attempts = n
		case "allowed":
			tally.allowed = n
		case "failures":
			tally.failures = n
		}
	}
	return &tally
}

// child is the child process's side of the tests below, if this process is
// one; it reports whether it was.
func child(t *testing.T) bool {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return false
	}
	role, rest, _ := strings.Cut(spec, ":")
	path, prefix, _ := strings.Cut(rest, ":")
	s, err := Open(ctx, path, Options{})
	must(t, err)
	in := bufio.NewScanner(os.Stdin)
	switch role {
	case "race":
		var tally raceTally
		fmt.Println("ready")
		for in.Scan() && in.Text() != "end" { // the parent names each entry
			i, err := strconv.Atoi(in.Text())
			must(t, err)
			tally.raceEntry(s, prefix, "child", i)
			fmt.Println("ack")
		}
		tally.report(os.Stdout)
		must(t, s.Close())
	case "crash":
		crashWrites(t, s, prefix)
		fmt.Println("done")
		in.Scan() // killed while waiting here, without Close
	}
	return true
}

// startChild runs this test binary as a child process of role on the file
// at path, returning its stdin and stdout.
func startChild(t *testing.T, role, path, prefix string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+role+":"+path+":"+prefix)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, stdin, bufio.NewReader(stdout)
}

// Two processes race on the same entries of one file, in step: the parent
// names an entry to the child and both work on it at once. Every challenge
// is consumed once, every token rotated once, the attempted challenge
// counts exactly MaxAttempts attempts and the limited key allows exactly
// its limit, across both.
func TestTwoProcesses(t *testing.T) {
	if child(t) {
		return
	}
	path, prefix := newFile(t), "77"
	s := openStore(t, path, Options{})
	for i := range raceEntries {
		must(t, s.PutChallenge(ctx, raceChallenge(prefix, i)))
		must(t, s.CreateSession(ctx, raceSession(prefix, i)))
	}
	must(t, s.PutChallenge(ctx, attempted(prefix)))

	cmd, stdin, stdout := startChild(t, "race", path, prefix)
	if line, err := stdout.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("child: %q, %v; want ready", line, err)
	}
	var mine raceTally
	for i := range raceEntries { // both processes on entry i at once
		_, err := fmt.Fprintln(stdin, i)
		must(t, err)
		mine.raceEntry(s, prefix, "parent", i)
		if line, err := stdout.ReadString('\n'); err != nil || line != "ack\n" {
			t.Fatalf("child, entry %d: %q, %v; want ack", i, line, err)
		}
	}
	_, err := io.WriteString(stdin, "end\n")
	must(t, err)
	out, err := io.ReadAll(stdout)
	must(t, err)
	must(t, cmd.Wait())
	theirs := parseTally(t, string(out))

	if mine.failures+theirs.failures != 0 {
		t.Fatalf("%d calls failed in the parent, %d in the child (see the log)", mine.failures, theirs.failures)
	}
	for what, lists := range map[string][2][]int{
		"consumed": {mine.deleted, theirs.deleted},
		"rotated":  {mine.rotated, theirs.rotated},
	} {
		wins := make([]int, raceEntries)
		for _, list := range lists {
			for _, i := range list {
				wins[i]++
			}
		}
		for i, n := range wins {
			if n != 1 {
				t.Errorf("entry %d was %s %d times by two processes, want exactly once", i, what, n)
			}
		}
		t.Logf("%s: the parent won %d, the child %d", what, len(lists[0]), len(lists[1]))
	}
	t.Logf("attempts: the parent %d, the child %d; events allowed: the parent %d, the child %d", mine.attempts, theirs.attempts, mine.allowed, theirs.allowed)
	if n := mine.attempts + theirs.attempts; n != raceAttempts {
		t.Errorf("attempts counted across two processes: %d, want MaxAttempts = %d", n, raceAttempts)
	}
	if n := mine.allowed + theirs.allowed; n != raceLimit {
		t.Errorf("events allowed across two processes: %d, want the limit, %d", n, raceLimit)
	}
}

// crashWrites is what the crashing child does before it is killed: it
// consumes one challenge, puts another, rotates a session's token and
// creates a user.
func crashWrites(t *testing.T, s *Store, prefix string) {
	c := raceChallenge(prefix, 0)
	must(t, s.DeleteChallenge(ctx, c.Key, c.ID))
	must(t, s.PutChallenge(ctx, raceChallenge(prefix, 1)))
	sess := raceSession(prefix, 0)
	_, err := s.RotateRefresh(ctx, phoneauth.Rotation{SessionID: sess.ID, OldHash: sess.RefreshHash,
		NewHash: raceHash(prefix, "new"), NewExpiresAt: raceTime.Add(time.Hour), Now: raceTime})
	must(t, err)
	_, _, err = s.CreateUser(ctx, "+999"+prefix, nil)
	must(t, err)
}

// A process killed (SIGKILL, no Close, the write-ahead log not
// checkpointed) right after its writes returned leaves them all in the
// file: the next process finds the consumed code consumed, the rotated
// token rotated, the new code and the user there.
func TestKilledProcessKeepsWrites(t *testing.T) {
	if child(t) {
		return
	}
	path, prefix := newFile(t), "88"
	s := openStore(t, path, Options{})
	must(t, s.PutChallenge(ctx, raceChallenge(prefix, 0)))
	sess := raceSession(prefix, 0)
	must(t, s.CreateSession(ctx, sess))
	must(t, s.Close())

	cmd, _, stdout := startChild(t, "crash", path, prefix)
	if line, err := stdout.ReadString('\n'); err != nil || line != "done\n" {
		t.Fatalf("child: %q, %v; want done", line, err)
	}
	must(t, cmd.Process.Kill())
	_ = cmd.Wait()

	s = openStore(t, path, Options{})
	c := raceChallenge(prefix, 0)
	if err := s.DeleteChallenge(ctx, c.Key, c.ID); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("the challenge consumed by the killed process: DeleteChallenge = %v, want ErrNotFound", err)
	}
	if _, err := s.GetChallenge(ctx, raceChallenge(prefix, 1).Key, raceTime); err != nil {
		t.Errorf("the challenge put by the killed process: %v", err)
	}
	_, err := s.RotateRefresh(ctx, phoneauth.Rotation{SessionID: sess.ID, OldHash: sess.RefreshHash,
		NewHash: raceHash("again"), NewExpiresAt: raceTime.Add(time.Hour), Now: raceTime.Add(time.Minute)})
	if !errors.Is(err, phoneauth.ErrTokenReused) {
		t.Errorf("the token rotated by the killed process, presented again: %v, want ErrTokenReused", err)
	}
	if _, err := s.UserByPhone(ctx, "+999"+prefix); err != nil {
		t.Errorf("the user created by the killed process: %v", err)
	}
}
