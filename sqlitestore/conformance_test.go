package sqlitestore

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/storetest"
)

var ctx = context.Background()

// must fails tb on an error.
func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// openStore opens the file at path, closing the Store when tb ends.
func openStore(tb testing.TB, path string, opts Options) *Store {
	tb.Helper()
	s, err := Open(ctx, path, opts)
	must(tb, err)
	tb.Cleanup(func() { must(tb, s.Close()) })
	return s
}

// newFile returns the path of a new database file in tb's directory.
func newFile(tb testing.TB) string { return filepath.Join(tb.TempDir(), "phoneauth.db") }

// The conformance suite on one Store, shared by every subtest as a server
// shares it: the suite's keys and IDs are random, so subtests never collide.
func TestConformance(t *testing.T) {
	s := openStore(t, newFile(t), Options{})
	storetest.Run(t, func(*testing.T) phoneauth.Store { return s })
}

func TestLimiterConformance(t *testing.T) {
	lim := openStore(t, newFile(t), Options{}).Limiter()
	storetest.RunLimiter(t, func(*testing.T) phoneauth.Limiter { return lim })
}

func TestReplicas(t *testing.T) {
	s := openStore(t, newFile(t), Options{})
	storetest.RunReplicas(t, func(*testing.T) (phoneauth.Store, phoneauth.Limiter) { return s, s.Limiter() })
}

// twoHandles is one backend made of two Stores opened on one file, each
// with its own connections: successive calls alternate between them, so
// that the suite's concurrent calls race across handles, which only
// SQLite's file locks keep apart, as they would two processes.
type twoHandles struct {
	h    [2]*Store
	next atomic.Uint32
}

// pick returns the handle of the next call.
func (b *twoHandles) pick() *Store { return b.h[b.next.Add(1)%2] }

func (b *twoHandles) PutChallenge(ctx context.Context, c phoneauth.Challenge) error {
	return b.pick().PutChallenge(ctx, c)
}
func (b *twoHandles) GetChallenge(ctx context.Context, key string, now time.Time) (phoneauth.Challenge, error) {
	return b.pick().GetChallenge(ctx, key, now)
}
func (b *twoHandles) AttemptChallenge(ctx context.Context, key, id string, now time.Time) (phoneauth.Challenge, error) {
	return b.pick().AttemptChallenge(ctx, key, id, now)
}
func (b *twoHandles) DeleteChallenge(ctx context.Context, key, id string) error {
	return b.pick().DeleteChallenge(ctx, key, id)
}
func (b *twoHandles) CreateSession(ctx context.Context, s phoneauth.Session) error {
	return b.pick().CreateSession(ctx, s)
}
func (b *twoHandles) GetSession(ctx context.Context, id string, now time.Time) (phoneauth.Session, error) {
	return b.pick().GetSession(ctx, id, now)
}
func (b *twoHandles) RotateRefresh(ctx context.Context, r phoneauth.Rotation) (phoneauth.Session, error) {
	return b.pick().RotateRefresh(ctx, r)
}
func (b *twoHandles) DeleteSession(ctx context.Context, id string) error {
	return b.pick().DeleteSession(ctx, id)
}
func (b *twoHandles) RevokeOtherSessions(ctx context.Context, userID, keepID, phone string, now time.Time) error {
	return b.pick().RevokeOtherSessions(ctx, userID, keepID, phone, now)
}
func (b *twoHandles) ListSessions(ctx context.Context, userID string, now time.Time) ([]phoneauth.Session, error) {
	return b.pick().ListSessions(ctx, userID, now)
}
func (b *twoHandles) UserByPhone(ctx context.Context, phone string) (phoneauth.User, error) {
	return b.pick().UserByPhone(ctx, phone)
}
func (b *twoHandles) CreateUser(ctx context.Context, phone string, metadata map[string]any) (phoneauth.User, bool, error) {
	return b.pick().CreateUser(ctx, phone, metadata)
}
func (b *twoHandles) SetPhone(ctx context.Context, userID, phone string) error {
	return b.pick().SetPhone(ctx, userID, phone)
}
func (b *twoHandles) Allow(ctx context.Context, key string, l phoneauth.Limit, now time.Time) (bool, time.Duration, error) {
	return b.pick().Limiter().Allow(ctx, key, l, now)
}
func (b *twoHandles) AllowAll(ctx context.Context, checks []phoneauth.LimitCheck, now time.Time) (int, time.Duration, error) {
	return b.pick().Limiter().AllowAll(ctx, checks, now)
}
func (b *twoHandles) Refund(ctx context.Context, key string, l phoneauth.Limit, now time.Time) error {
	return b.pick().Limiter().Refund(ctx, key, l, now)
}
func (b *twoHandles) Reset(ctx context.Context, key string) error {
	return b.pick().Limiter().Reset(ctx, key)
}

// newTwoHandles opens two Stores on one new file.
func newTwoHandles(t *testing.T) *twoHandles {
	path := newFile(t)
	return &twoHandles{h: [2]*Store{openStore(t, path, Options{}), openStore(t, path, Options{})}}
}

// The whole suite again on two handles of one file.
func TestTwoHandles(t *testing.T) {
	b := newTwoHandles(t)
	t.Run("Store", func(t *testing.T) {
		storetest.Run(t, func(*testing.T) phoneauth.Store { return b })
	})
	t.Run("Limiter", func(t *testing.T) {
		storetest.RunLimiter(t, func(*testing.T) phoneauth.Limiter { return b })
	})
	t.Run("Replicas", func(t *testing.T) {
		storetest.RunReplicas(t, func(*testing.T) (phoneauth.Store, phoneauth.Limiter) { return b, b })
	})
}
