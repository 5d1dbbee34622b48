package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/phoneauth/phoneauth"
	"github.com/redis/go-redis/v9"
)

// userKeys are the four hashes of the users table, in the order the user
// scripts take them. They share one slot.
func (s *Store) userKeys() []string {
	return []string{
		s.keys.users("by-phone"),
		s.keys.users("phone"),
		s.keys.users("created"),
		s.keys.users("metadata"),
	}
}

// UserByPhone implements phoneauth.Users: one script reading the phone's
// user id and that user's creation time.
func (s *Store) UserByPhone(ctx context.Context, phone string) (phoneauth.User, error) {
	k := s.userKeys()
	res, err := userByPhone.Run(ctx, s.rdb, []string{k[0], k[2]}, phone).StringSlice()
	switch {
	case errors.Is(err, redis.Nil):
		return phoneauth.User{}, phoneauth.ErrNotFound
	case err != nil:
		return phoneauth.User{}, unavailable("user by phone", err)
	case len(res) != 2:
		return phoneauth.User{}, unavailable("user by phone", fmt.Errorf("unexpected reply %q", res))
	}
	created, err := decodeTime(res[1])
	if err != nil {
		return phoneauth.User{}, unavailable("user by phone", err)
	}
	return phoneauth.User{ID: res[0], Phone: phone, CreatedAt: created}, nil
}

// CreateUser implements phoneauth.Users: one script that creates the user
// unless the phone has one (then it returns that one with created false).
// User ids are 128 random bits, base64url. The metadata is kept as JSON in
// the {P:u}:metadata hash for the application to read.
func (s *Store) CreateUser(ctx context.Context, phone string, metadata map[string]any) (phoneauth.User, bool, error) {
	meta, err := encodeJSON(metadata)
	if err != nil {
		return phoneauth.User{}, false, fmt.Errorf("redisstore: create user: metadata: %w", err)
	}
	if meta == "{}" {
		meta = ""
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id) // never fails (Go 1.24+: a failure crashes the program)
	now := s.clock.Now()
	res, err := createUser.Run(ctx, s.rdb, s.userKeys(),
		phone, base64.RawURLEncoding.EncodeToString(id), encodeTime(now), meta,
	).Slice()
	if err != nil {
		return phoneauth.User{}, false, unavailable("create user", err)
	}
	if len(res) != 3 {
		return phoneauth.User{}, false, unavailable("create user", fmt.Errorf("unexpected reply %v", res))
	}
	isNew, _ := res[0].(int64)
	uid, _ := res[1].(string)
	createdStr, _ := res[2].(string)
	created, err := decodeTime(createdStr)
	if err != nil {
		return phoneauth.User{}, false, unavailable("create user", err)
	}
	return phoneauth.User{ID: uid, Phone: phone, CreatedAt: created}, isNew == 1, nil
}

// SetPhone implements phoneauth.Users: one script that checks the user and
// the phone's owner and moves the user to the new phone.
func (s *Store) SetPhone(ctx context.Context, userID, phone string) error {
	k := s.userKeys()
	n, err := setPhone.Run(ctx, s.rdb, k[:2], userID, phone).Int64()
	switch {
	case err != nil:
		return unavailable("set phone", err)
	case n == 0:
		return phoneauth.ErrNotFound
	case n < 0:
		return phoneauth.ErrPhoneTaken
	}
	return nil
}
