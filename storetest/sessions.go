package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// A sessionTest is a clause of phoneauth.SessionStore.
type sessionTest struct {
	name string
	fn   func(t *testing.T, s phoneauth.SessionStore)
}

// sessionTests are the clauses of phoneauth.SessionStore.
var sessionTests = []sessionTest{
	{"CreateGet", testCreateGet},
	{"GetMissing", testGetSessionMissing},
	{"ExpiredAtExpiresAt", testSessionExpiry},
	{"ExpiredFirstCall", testSessionExpiredFirstCall},
	{"NoAliasing", testSessionNoAliasing},
	{"Rotate", testRotate},
	{"RotateMissing", testRotateMissing},
	{"ReuseRevokesFamily", testReuseRevokes},
	{"ReuseOfOlderToken", testReuseOlderToken},
	{"ReuseGrace", testReuseGrace},
	{"ReuseAfterGrace", testReuseAfterGrace},
	{"GraceInExpiredSession", testGraceInExpiredSession},
	{"UnknownTokenChangesNothing", testUnknownToken},
	{"OtherSessionsToken", testOtherSessionsToken},
	{"RefreshExpired", testRefreshExpired},
	{"Delete", testDeleteSession},
	{"ListOldestFirst", testListSessions},
	{"ListEmpty", testListEmpty},
	{"ConcurrentRotate", testConcurrentRotate},
	{"ConcurrentSameRotation", testConcurrentSameRotation},
	{"RevokeOtherSessions", testRevokeOtherSessions},
	{"ConcurrentRotateRounds", testConcurrentRotateRounds},
}

// create stores s or fails t.
func create(t *testing.T, st phoneauth.SessionStore, s phoneauth.Session) {
	t.Helper()
	noErr(t, "CreateSession", st.CreateSession(ctx, s))
}

// rotation returns a rotation of s's token old to a new random token at now,
// valid for 30 days, without grace.
func rotation(s phoneauth.Session, old []byte, now time.Time) phoneauth.Rotation {
	return phoneauth.Rotation{
		SessionID:    s.ID,
		OldHash:      old,
		NewHash:      randomHash(),
		NewExpiresAt: now.Add(30 * 24 * time.Hour),
		Now:          now,
	}
}

// graceRotation is rotation with a grace interval.
func graceRotation(s phoneauth.Session, old []byte, now time.Time, grace time.Duration) phoneauth.Rotation {
	r := rotation(s, old, now)
	r.Grace = grace
	return r
}

// rotated returns s as a rotation r should have left it.
func rotated(s phoneauth.Session, r phoneauth.Rotation) phoneauth.Session {
	s.RefreshHash = r.NewHash
	s.RefreshedAt = r.Now
	s.RefreshExpiresAt = r.NewExpiresAt
	return s
}

// mustRotate performs r, which must succeed, and checks the result.
func mustRotate(t *testing.T, st phoneauth.SessionStore, s phoneauth.Session, r phoneauth.Rotation) phoneauth.Session {
	t.Helper()
	got, err := st.RotateRefresh(ctx, r)
	noErr(t, "RotateRefresh", err)
	want := rotated(s, r)
	checkSession(t, "session returned by RotateRefresh", got, want)
	stored, err := st.GetSession(ctx, s.ID, r.Now)
	noErr(t, "GetSession after RotateRefresh", err)
	checkSession(t, "GetSession after RotateRefresh", stored, want)
	return want
}

// wantGone fails t unless the session with id is absent at now.
func wantGone(t *testing.T, st phoneauth.SessionStore, what, id string, now time.Time) {
	t.Helper()
	_, err := st.GetSession(ctx, id, now)
	wantErr(t, what, err, phoneauth.ErrNotFound)
}

// wantUnchanged fails t unless the stored session equals s at now.
func wantUnchanged(t *testing.T, st phoneauth.SessionStore, what string, s phoneauth.Session, now time.Time) {
	t.Helper()
	got, err := st.GetSession(ctx, s.ID, now)
	noErr(t, what, err)
	checkSession(t, what, got, s)
}

func testCreateGet(t *testing.T, st phoneauth.SessionStore) {
	s := newSession(start)
	create(t, st, s)
	wantUnchanged(t, st, "GetSession after CreateSession", s, start.Add(time.Minute))

	bare := newSession(start)
	bare.Device = phoneauth.Device{ID: "device-" + randomString(8)} // only the required device field
	create(t, st, bare)
	wantUnchanged(t, st, "GetSession of a session with a bare device", bare, start)
}

func testGetSessionMissing(t *testing.T, st phoneauth.SessionStore) {
	wantGone(t, st, "GetSession of an id never created", randomString(26), start)
}

// A session is there until just before ExpiresAt and absent from it on, for
// every method that takes a time.
func testSessionExpiry(t *testing.T, st phoneauth.SessionStore) {
	s := newSession(start)
	s.ExpiresAt = start.Add(time.Hour) // before its refresh token's expiry
	create(t, st, s)
	justBefore := s.ExpiresAt.Add(-time.Millisecond)
	wantUnchanged(t, st, "GetSession 1ms before ExpiresAt", s, justBefore)
	if list, err := st.ListSessions(ctx, s.UserID, justBefore); err != nil || len(list) != 1 {
		t.Fatalf("ListSessions 1ms before ExpiresAt: %d sessions, error %v; want 1", len(list), err)
	}

	wantGone(t, st, "GetSession at exactly ExpiresAt", s.ID, s.ExpiresAt)
	list, err := st.ListSessions(ctx, s.UserID, s.ExpiresAt)
	noErr(t, "ListSessions at ExpiresAt", err)
	if len(list) != 0 {
		t.Fatalf("ListSessions at exactly ExpiresAt: got %d sessions, want 0", len(list))
	}
	_, err = st.RotateRefresh(ctx, rotation(s, s.RefreshHash, s.ExpiresAt))
	wantErr(t, "RotateRefresh of the current token at the session's ExpiresAt", err, phoneauth.ErrNotFound)
}

// Each method that takes a time, as the first call on a new session, finds
// it absent at and after its ExpiresAt: no earlier call has had a chance to
// remove it. The refresh token is still valid then, so only the session's
// absolute end can refuse the rotation.
func testSessionExpiredFirstCall(t *testing.T, st phoneauth.SessionStore) {
	fresh := func() phoneauth.Session {
		s := newSession(start)
		s.ExpiresAt = start.Add(time.Hour) // before its refresh token's expiry
		create(t, st, s)
		return s
	}
	for _, after := range []time.Duration{0, time.Millisecond, 2 * time.Hour} {
		s := fresh()
		wantGone(t, st, fmt.Sprintf("GetSession %s after ExpiresAt, the first call on the session", after), s.ID, s.ExpiresAt.Add(after))

		s = fresh()
		list, err := st.ListSessions(ctx, s.UserID, s.ExpiresAt.Add(after))
		noErr(t, "ListSessions", err)
		if len(list) != 0 {
			t.Fatalf("ListSessions %s after ExpiresAt, the first call on the session: %d sessions, want 0", after, len(list))
		}

		s = fresh()
		_, err = st.RotateRefresh(ctx, rotation(s, s.RefreshHash, s.ExpiresAt.Add(after)))
		wantErr(t, fmt.Sprintf("RotateRefresh of the current, unexpired token %s after the session's ExpiresAt, the first call on the session", after), err, phoneauth.ErrNotFound)
		_, err = st.RotateRefresh(ctx, graceRotation(s, s.RefreshHash, s.ExpiresAt.Add(after), time.Hour))
		wantErr(t, "RotateRefresh with grace after the session's ExpiresAt", err, phoneauth.ErrNotFound)
	}
}

// Changing what was passed in, or what was returned, does not change the
// store.
func testSessionNoAliasing(t *testing.T, st phoneauth.SessionStore) {
	s := newSession(start)
	in := s
	in.RefreshHash = bytes.Clone(s.RefreshHash)
	create(t, st, in)
	in.RefreshHash[0] ^= 0xff
	got, err := st.GetSession(ctx, s.ID, start)
	noErr(t, "GetSession", err)
	checkSession(t, "after changing the created session's RefreshHash", got, s)
	got.RefreshHash[0] ^= 0xff
	wantUnchanged(t, st, "after changing a returned session's RefreshHash", s, start)

	r := rotation(s, bytes.Clone(s.RefreshHash), start.Add(time.Minute))
	want := rotated(s, r)
	r.NewHash = bytes.Clone(want.RefreshHash)
	got, err = st.RotateRefresh(ctx, r)
	noErr(t, "RotateRefresh", err)
	r.NewHash[0] ^= 0xff
	got.RefreshHash[1] ^= 0xff
	wantUnchanged(t, st, "after changing a rotation's NewHash and the returned session", want, r.Now)
	list, err := st.ListSessions(ctx, s.UserID, r.Now)
	noErr(t, "ListSessions", err)
	if len(list) != 1 {
		t.Fatalf("ListSessions: %d sessions, want 1", len(list))
	}
	list[0].RefreshHash[0] ^= 0xff
	wantUnchanged(t, st, "after changing a listed session's RefreshHash", want, r.Now)
}

// The current token rotates: the new one becomes current, RefreshedAt moves,
// and the new one rotates in turn.
func testRotate(t *testing.T, st phoneauth.SessionStore) {
	s := newSession(start)
	create(t, st, s)
	for i := 1; i <= 3; i++ {
		s = mustRotate(t, st, s, rotation(s, s.RefreshHash, start.Add(time.Duration(i)*time.Hour)))
	}
}

// Rotating in a missing or expired session finds nothing.
func testRotateMissing(t *testing.T, st phoneauth.SessionStore) {
	ghost := newSession(start)
	_, err := st.RotateRefresh(ctx, rotation(ghost, ghost.RefreshHash, start))
	wantErr(t, "RotateRefresh in a session never created", err, phoneauth.ErrNotFound)

	s := newSession(start)
	create(t, st, s)
	_, err = st.RotateRefresh(ctx, rotation(s, s.RefreshHash, s.ExpiresAt.Add(time.Hour)))
	wantErr(t, "RotateRefresh in an expired session", err, phoneauth.ErrNotFound)
}

// Presenting a rotated token again (no grace) deletes the session: neither
// it nor its current token works any more.
func testReuseRevokes(t *testing.T, st phoneauth.SessionStore) {
	s := newSession(start)
	create(t, st, s)
	first := s.RefreshHash
	now := start.Add(time.Hour)
	s = mustRotate(t, st, s, rotation(s, first, now))

	// Even at the very instant of the rotation: grace is zero.
	_, err := st.RotateRefresh(ctx, rotation(s, first, now))
	wantErr(t, "RotateRefresh of a rotated token", err, phoneauth.ErrTokenReused)
	wantGone(t, st, "GetSession after a reused token", s.ID, now)
	_, err = st.RotateRefresh(ctx, rotation(s, s.RefreshHash, now))
	wantErr(t, "RotateRefresh of the current token of a revoked session", err, phoneauth.ErrNotFound)
	_, err = st.RotateRefresh(ctx, rotation(s, first, now))
	wantErr(t, "RotateRefresh of the reused token again", err, phoneauth.ErrNotFound)
	list, err := st.ListSessions(ctx, s.UserID, now)
	noErr(t, "ListSessions", err)
	if len(list) != 0 {
		t.Fatalf("ListSessions after a reused token: %d sessions, want 0", len(list))
	}
}

// Any past token of the session, not only the last one, is reuse.
func testReuseOlderToken(t *testing.T, st phoneauth.SessionStore) {
	s := newSession(start)
	create(t, st, s)
	first := s.RefreshHash
	for i := 1; i <= 3; i++ {
		s = mustRotate(t, st, s, rotation(s, s.RefreshHash, start.Add(time.Duration(i)*time.Minute)))
	}
	now := start.Add(time.Hour)
	_, err := st.RotateRefresh(ctx, rotation(s, first, now))
	wantErr(t, "RotateRefresh of the first of three rotated tokens", err, phoneauth.ErrTokenReused)
	wantGone(t, st, "GetSession after a reused token", s.ID, now)
}

// Within Grace of its rotation, a past token presented again with the
// NewHash it was rotated to (a retry, a concurrent refresh) gets the
// session as it is, as often as it comes; with any other NewHash it is
// reuse.
func testReuseGrace(t *testing.T, st phoneauth.SessionStore) {
	const grace = 10 * time.Second
	s := newSession(start)
	create(t, st, s)
	first := s.RefreshHash
	t0 := start.Add(time.Hour)
	r := graceRotation(s, first, t0, grace)
	s = mustRotate(t, st, s, r)

	for _, at := range []time.Duration{0, time.Second, grace - time.Millisecond} {
		again := r
		again.Now = t0.Add(at)
		again.NewExpiresAt = again.Now.Add(time.Hour) // ignored: nothing changes
		got, err := st.RotateRefresh(ctx, again)
		noErr(t, fmt.Sprintf("the same rotation again, %s after it", at), err)
		checkSession(t, "session returned by the same rotation again", got, s)
		wantUnchanged(t, st, "session after the same rotation again", s, again.Now)
	}
	s = mustRotate(t, st, s, rotation(s, s.RefreshHash, t0.Add(grace))) // its token rotates as usual

	// Within the grace, a past token with another NewHash is reuse.
	s2 := newSession(start)
	create(t, st, s2)
	r = rotation(s2, s2.RefreshHash, t0)
	r.Grace = grace
	mustRotate(t, st, s2, r)
	other := rotation(s2, r.OldHash, t0.Add(time.Second))
	other.Grace = grace
	_, err := st.RotateRefresh(ctx, other)
	wantErr(t, "RotateRefresh of a past token within grace, to another NewHash", err, phoneauth.ErrTokenReused)
	wantGone(t, st, "GetSession after that reuse", s2.ID, other.Now)
}

// Grace does not outlive the session: at its ExpiresAt, a past token
// within grace finds nothing.
func testGraceInExpiredSession(t *testing.T, st phoneauth.SessionStore) {
	const grace = time.Minute
	s := newSession(start)
	s.ExpiresAt = start.Add(time.Hour)
	create(t, st, s)
	first := s.RefreshHash
	r := graceRotation(s, first, s.ExpiresAt.Add(-time.Second), grace)
	mustRotate(t, st, s, r)
	r = graceRotation(s, first, s.ExpiresAt, grace)
	_, err := st.RotateRefresh(ctx, r)
	wantErr(t, "RotateRefresh of a past token within grace at the session's ExpiresAt", err, phoneauth.ErrNotFound)
}

// At Grace after its rotation, and later, a past token is reuse, even
// with the NewHash it was rotated to.
func testReuseAfterGrace(t *testing.T, st phoneauth.SessionStore) {
	reuseAtGraceEnd(t, st, 10*time.Second)
}

// reuseAtGraceEnd rotates a session's first token at t0 with grace and
// presents it again, with the NewHash it was rotated to, at t0 + grace,
// which must be reuse and revoke the session.
func reuseAtGraceEnd(t *testing.T, st phoneauth.SessionStore, grace time.Duration) {
	t.Helper()
	s := newSession(start)
	create(t, st, s)
	first := s.RefreshHash
	t0 := start.Add(time.Hour)
	r := rotation(s, first, t0)
	r.Grace = grace
	s = mustRotate(t, st, s, r)

	r.Now = t0.Add(grace)
	_, err := st.RotateRefresh(ctx, r)
	wantErr(t, "RotateRefresh of a past token exactly Grace after its rotation", err, phoneauth.ErrTokenReused)
	wantGone(t, st, "GetSession after reuse past the grace interval", s.ID, r.Now)
}

// A token that is no token of the session is not found and changes nothing.
func testUnknownToken(t *testing.T, st phoneauth.SessionStore) {
	s := newSession(start)
	create(t, st, s)
	s = mustRotate(t, st, s, rotation(s, s.RefreshHash, start.Add(time.Minute)))
	now := start.Add(time.Hour)
	_, err := st.RotateRefresh(ctx, rotation(s, randomHash(), now))
	wantErr(t, "RotateRefresh of an unknown token", err, phoneauth.ErrNotFound)
	_, err = st.RotateRefresh(ctx, graceRotation(s, randomHash(), now, time.Hour))
	wantErr(t, "RotateRefresh of an unknown token with grace", err, phoneauth.ErrNotFound)
	wantUnchanged(t, st, "session after unknown tokens", s, now)
	mustRotate(t, st, s, rotation(s, s.RefreshHash, now))
}

// A session's tokens mean nothing in another session, current or past.
func testOtherSessionsToken(t *testing.T, st phoneauth.SessionStore) {
	a, b := newSession(start), newSession(start)
	b.UserID = a.UserID
	create(t, st, a)
	create(t, st, b)
	aFirst := a.RefreshHash
	a = mustRotate(t, st, a, rotation(a, aFirst, start.Add(time.Minute)))
	now := start.Add(time.Hour)
	for _, h := range [][]byte{a.RefreshHash, aFirst} {
		_, err := st.RotateRefresh(ctx, rotation(b, h, now))
		wantErr(t, "RotateRefresh in session b of a token of session a", err, phoneauth.ErrNotFound)
	}
	wantUnchanged(t, st, "session a after its tokens were presented to b", a, now)
	wantUnchanged(t, st, "session b after a's tokens were presented to it", b, now)
}

// The current token stops rotating at its RefreshExpiresAt; the session
// stays.
func testRefreshExpired(t *testing.T, st phoneauth.SessionStore) {
	s := newSession(start)
	s.RefreshExpiresAt = start.Add(time.Hour)
	create(t, st, s)
	_, err := st.RotateRefresh(ctx, rotation(s, s.RefreshHash, s.RefreshExpiresAt))
	wantErr(t, "RotateRefresh at exactly RefreshExpiresAt", err, phoneauth.ErrNotFound)
	wantUnchanged(t, st, "session after an expired refresh token", s, s.RefreshExpiresAt)
	mustRotate(t, st, s, rotation(s, s.RefreshHash, s.RefreshExpiresAt.Add(-time.Millisecond)))
}

func testDeleteSession(t *testing.T, st phoneauth.SessionStore) {
	s := newSession(start)
	other := newSession(start)
	other.UserID = s.UserID
	create(t, st, s)
	create(t, st, other)
	noErr(t, "DeleteSession", st.DeleteSession(ctx, s.ID))
	wantGone(t, st, "GetSession after DeleteSession", s.ID, start)
	wantErr(t, "second DeleteSession", st.DeleteSession(ctx, s.ID), phoneauth.ErrNotFound)
	wantErr(t, "DeleteSession of an id never created", st.DeleteSession(ctx, randomString(26)), phoneauth.ErrNotFound)
	_, err := st.RotateRefresh(ctx, rotation(s, s.RefreshHash, start))
	wantErr(t, "RotateRefresh in a deleted session", err, phoneauth.ErrNotFound)
	wantUnchanged(t, st, "the user's other session after DeleteSession", other, start)
}

// ListSessions returns the user's live sessions, oldest first whatever the
// order of creation and rotation: not expired, deleted or revoked ones, nor
// other users'.
func testListSessions(t *testing.T, st phoneauth.SessionStore) {
	user := "user-" + randomString(20)
	mk := func(created time.Duration) phoneauth.Session {
		s := newSession(start.Add(created))
		s.UserID = user
		return s
	}
	now := start.Add(24 * time.Hour)
	// Live sessions, created in scrambled order (want lists them sorted).
	live := []phoneauth.Session{mk(time.Hour), mk(0), mk(3 * time.Second), mk(time.Second), mk(2 * time.Hour), mk(4 * time.Second)}
	want := []phoneauth.Session{live[1], live[3], live[2], live[5], live[0], live[4]}
	expired := mk(time.Minute)
	expired.ExpiresAt = now
	deleted, revoked := mk(2*time.Second), mk(5*time.Second)
	stranger := newSession(start.Add(time.Millisecond))
	for _, s := range append(live[:3:3], expired, deleted, stranger, revoked, live[3], live[4], live[5]) {
		create(t, st, s)
	}
	noErr(t, "DeleteSession", st.DeleteSession(ctx, deleted.ID))
	mustRotate(t, st, revoked, rotation(revoked, revoked.RefreshHash, start.Add(time.Hour)))
	_, err := st.RotateRefresh(ctx, rotation(revoked, revoked.RefreshHash, start.Add(time.Hour)))
	wantErr(t, "RotateRefresh of a rotated token", err, phoneauth.ErrTokenReused)
	want[0] = mustRotate(t, st, want[0], rotation(want[0], want[0].RefreshHash, start.Add(3*time.Hour)))

	list, err := st.ListSessions(ctx, user, now)
	noErr(t, "ListSessions", err)
	if len(list) != len(want) {
		t.Fatalf("ListSessions: got %d sessions %v, want %d %v", len(list), ids(list), len(want), ids(want))
	}
	for i := range want {
		checkSession(t, "ListSessions entry", list[i], want[i])
	}

	got, err := st.ListSessions(ctx, stranger.UserID, now)
	noErr(t, "ListSessions of another user", err)
	if len(got) != 1 || got[0].ID != stranger.ID {
		t.Fatalf("ListSessions of another user: got %v, want [%s]", ids(got), stranger.ID)
	}
}

// ids lists the ids of sessions, for messages.
func ids(list []phoneauth.Session) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

// A user without sessions gets an empty list and no error.
func testListEmpty(t *testing.T, st phoneauth.SessionStore) {
	list, err := st.ListSessions(ctx, "user-"+randomString(20), start)
	noErr(t, "ListSessions of a user without sessions", err)
	if len(list) != 0 {
		t.Fatalf("ListSessions of a user without sessions: %d sessions, want 0", len(list))
	}
}

// 20 concurrent rotations of one token (no grace): exactly one wins. The
// others present a token that has become a past one: at least one of them
// sees ErrTokenReused and the session is revoked.
func testConcurrentRotate(t *testing.T, st phoneauth.SessionStore) {
	const n = 20
	s := newSession(start)
	create(t, st, s)
	now := start.Add(time.Hour)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		_, errs[i] = st.RotateRefresh(ctx, rotation(s, s.RefreshHash, now))
	})
	wins, reused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, phoneauth.ErrTokenReused):
			reused++
		case !errors.Is(err, phoneauth.ErrNotFound):
			t.Errorf("concurrent RotateRefresh: unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent RotateRefresh of one token: %d succeeded, want exactly 1", n, wins)
	}
	if reused == 0 {
		t.Fatalf("%d concurrent RotateRefresh of one token: none of the %d losers saw ErrTokenReused", n, n-1)
	}
	wantGone(t, st, "GetSession after concurrent rotations detected reuse", s.ID, now)
}

// 20 concurrent rotations of one token to the same NewHash, with a grace
// (a refresh fired many times: the Authenticator derives the successor
// from the token): all succeed, the session stays, and NewHash is current.
func testConcurrentSameRotation(t *testing.T, st phoneauth.SessionStore) {
	const n = 20
	s := newSession(start)
	create(t, st, s)
	now := start.Add(time.Hour)
	r := rotation(s, s.RefreshHash, now)
	r.Grace = 10 * time.Second
	errs := make([]error, n)
	concurrently(n, func(i int) {
		_, errs[i] = st.RotateRefresh(ctx, r)
	})
	for i, err := range errs {
		noErr(t, fmt.Sprintf("concurrent rotation %d of one token to the same NewHash", i), err)
	}
	wantUnchanged(t, st, "session after concurrent same rotations", rotated(s, r), now)
}

// RevokeOtherSessions ends the user's other sessions, with their tokens,
// and gives the kept one the new phone; another user's sessions stay. A
// kept session that is missing, expired or another user's is ErrNotFound,
// and changes nothing. A second call changes nothing more.
func testRevokeOtherSessions(t *testing.T, st phoneauth.SessionStore) {
	keep, other1, other2, stranger := newSession(start), newSession(start), newSession(start.Add(time.Second)), newSession(start)
	other1.UserID, other2.UserID = keep.UserID, keep.UserID
	for _, s := range []phoneauth.Session{keep, other1, other2, stranger} {
		create(t, st, s)
	}
	now := start.Add(time.Hour)
	newPhone := randomPhone()
	err := st.RevokeOtherSessions(ctx, keep.UserID, stranger.ID, newPhone, now)
	wantErr(t, "RevokeOtherSessions keeping another user's session", err, phoneauth.ErrNotFound)
	err = st.RevokeOtherSessions(ctx, keep.UserID, randomString(26), newPhone, now)
	wantErr(t, "RevokeOtherSessions keeping a missing session", err, phoneauth.ErrNotFound)
	err = st.RevokeOtherSessions(ctx, keep.UserID, keep.ID, newPhone, keep.ExpiresAt)
	wantErr(t, "RevokeOtherSessions keeping an expired session", err, phoneauth.ErrNotFound)
	for _, s := range []phoneauth.Session{keep, other1, other2, stranger} {
		wantUnchanged(t, st, "a session after a refused RevokeOtherSessions", s, now)
	}

	for range 2 {
		noErr(t, "RevokeOtherSessions", st.RevokeOtherSessions(ctx, keep.UserID, keep.ID, newPhone, now))
		want := keep
		want.Phone = newPhone
		wantUnchanged(t, st, "the kept session", want, now)
		wantGone(t, st, "another session of the user", other1.ID, now)
		wantGone(t, st, "another session of the user", other2.ID, now)
		wantUnchanged(t, st, "another user's session", stranger, now)
		list, err := st.ListSessions(ctx, keep.UserID, now)
		noErr(t, "ListSessions", err)
		if len(list) != 1 || list[0].ID != keep.ID {
			t.Fatalf("ListSessions after RevokeOtherSessions: %v, want only the kept session", ids(list))
		}
	}
	// The revoked sessions' tokens are gone with them.
	_, err = st.RotateRefresh(ctx, rotation(other1, other1.RefreshHash, now))
	wantErr(t, "RotateRefresh of a revoked session's token", err, phoneauth.ErrNotFound)
	// The kept session rotates on, with its new phone.
	want := keep
	want.Phone = newPhone
	mustRotate(t, st, want, rotation(want, want.RefreshHash, now))
}

// In each of many rounds, a few goroutines rotate the current token of a
// new session (no grace): exactly one of them wins every round.
func testConcurrentRotateRounds(t *testing.T, st phoneauth.SessionStore) {
	now := start.Add(time.Hour)
	for round := range rounds {
		s := newSession(start)
		create(t, st, s)
		errs := make([]error, roundGoroutines)
		concurrently(roundGoroutines, func(i int) { _, errs[i] = st.RotateRefresh(ctx, rotation(s, s.RefreshHash, now)) })
		if wins := countWins(t, "concurrent RotateRefresh", errs, phoneauth.ErrTokenReused, phoneauth.ErrNotFound); wins != 1 {
			t.Fatalf("round %d: %d concurrent RotateRefresh of one token: %d succeeded, want exactly 1", round, roundGoroutines, wins)
		}
	}
}
