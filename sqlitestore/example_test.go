package sqlitestore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/sqlitestore"
)

// A server on one node keeps its codes, sessions, users and limits in one
// SQLite file: here a sign-in by code, then the same user found again by a
// second Store on the file, as after a restart.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqlitestore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "phoneauth.db")

	store, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	key, err := phoneauth.GenerateEd25519Key("2026-12")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		log.Fatal(err)
	}
	var sms phoneauth.Message // what an SMS provider would deliver
	auth, err := phoneauth.New(phoneauth.Config{
		Store:   store,           // challenges and sessions; users too
		Limiter: store.Limiter(), // limits shared by every process on the file
		Sender: phoneauth.SenderFunc(func(_ context.Context, m phoneauth.Message) (string, error) {
			sms = m
			return "message-1", nil
		}),
		Secret: secret,
		Tokens: phoneauth.TokenConfig{Keys: keys},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := auth.Request(ctx, phoneauth.RequestParams{Phone: "+923012345678", IP: "192.0.2.1"}); err != nil {
		log.Fatal(err)
	}
	in, err := auth.Verify(ctx, phoneauth.VerifyParams{Phone: "+923012345678", Code: sms.Code, IP: "192.0.2.1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed in:", in.User.Phone, "new user:", in.IsNewUser)
	if err := store.Close(); err != nil {
		log.Fatal(err)
	}

	// The file outlives the Store.
	again, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer again.Close()
	u, err := again.UserByPhone(ctx, "+923012345678")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after a restart:", u.ID == in.User.ID)
	// Output:
	// signed in: +923012345678 new user: true
	// after a restart: true
}
