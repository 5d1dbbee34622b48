// Command customstore runs phoneauth on a storage backend written from
// scratch (store.go), the way you would write one for your own database:
// request a code, verify it, refresh the tokens, and see a reused refresh
// token revoke the session. main_test.go holds the backend to the contract
// with storetest.Run. The guide is docs/custom-store.md.
//
//	go run ./examples/customstore
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/phoneauth/phoneauth"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	key, err := phoneauth.GenerateEd25519Key("demo")
	if err != nil {
		return err
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		return err
	}
	secret := make([]byte, 32)
	rand.Read(secret)

	auth, err := phoneauth.New(phoneauth.Config{
		Store: newStore(), // our backend; it implements phoneauth.Users too
		Sender: phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) {
			return "not-sent", nil // a real Sender calls an SMS provider
		}),
		Secret:      secret,
		Tokens:      phoneauth.TokenConfig{Keys: keys},
		Development: true, // return the code in the result, for this demo only
	})
	if err != nil {
		return err
	}

	req, err := auth.Request(ctx, phoneauth.RequestParams{Phone: "+923012345678", DeviceID: "demo-device", IP: "192.0.2.1"})
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	fmt.Fprintf(w, "code sent to %s\n", req.MaskedPhone)

	in, err := auth.Verify(ctx, phoneauth.VerifyParams{
		Phone:     "+923012345678",
		RequestID: req.RequestID,
		Code:      req.Code,
		Device:    phoneauth.Device{ID: "demo-device", Name: "Demo"},
		IP:        "192.0.2.1",
	})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintf(w, "signed in: new user %v\n", in.IsNewUser)

	next, err := auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "203.0.113.5"})
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	if _, err := auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: next.Tokens.RefreshToken, IP: "203.0.113.5"}); err != nil {
		return fmt.Errorf("second refresh: %w", err)
	}
	fmt.Fprintln(w, "refreshed twice: the first refresh token is now spent")

	_, err = auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "203.0.113.5"})
	if !errors.Is(err, phoneauth.ErrTokenReused) {
		return fmt.Errorf("reusing a refresh token: got %v, want ErrTokenReused", err)
	}
	fmt.Fprintln(w, "reused the spent token: session revoked")
	return nil
}
