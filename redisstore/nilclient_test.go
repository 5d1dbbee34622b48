package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// A Store or Limiter made on a nil client fails every call with an error
// that says so (and matches phoneauth.ErrStoreUnavailable, as every failure
// of the backend does), and CheckSettings refuses a nil client with an
// error matching phoneauth.ErrInvalidConfig, instead of panicking.
func TestNilClient(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s, l := New(nil, Options{}), NewLimiter(nil, Options{})
	calls := map[string]func() error{
		"PutChallenge": func() error {
			return s.PutChallenge(ctx, phoneauth.Challenge{Key: "k", ID: "i", ExpiresAt: now.Add(time.Minute), CreatedAt: now, MaxAttempts: 5})
		},
		"GetChallenge": func() error { _, err := s.GetChallenge(ctx, "k", now); return err },
		"GetSession":   func() error { _, err := s.GetSession(ctx, "s", now); return err },
		"CreateUser":   func() error { _, _, err := s.CreateUser(ctx, "+923012345678", nil); return err },
		"Allow": func() error {
			_, _, err := l.Allow(ctx, "k", phoneauth.Limit{Events: 1, Per: time.Minute}, now)
			return err
		},
	}
	for name, call := range calls {
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("%s: panic %v", name, v)
				}
			}()
			if err := call(); !errors.Is(err, phoneauth.ErrStoreUnavailable) || !strings.Contains(err.Error(), "nil client") {
				t.Errorf("%s: %v, want an ErrStoreUnavailable that names the nil client", name, err)
			}
		}()
	}
	if _, err := CheckSettings(ctx, nil, nil); !errors.Is(err, phoneauth.ErrInvalidConfig) || !strings.Contains(err.Error(), "nil client") {
		t.Errorf("CheckSettings(nil): %v", err)
	}
}
