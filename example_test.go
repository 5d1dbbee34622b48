package phoneauth_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"

	"github.com/phoneauth/phoneauth"
)

// The whole sign-in: request a code, verify it, refresh the tokens.
func Example() {
	ctx := context.Background()

	// The Sender delivers codes; here it keeps the last one so the example
	// can type it in.
	var lastCode string
	sender := phoneauth.SenderFunc(func(_ context.Context, m phoneauth.Message) (string, error) {
		lastCode = m.Code
		return "msg-1", nil
	})
	key, err := phoneauth.GenerateEd25519Key("2026-11")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		log.Fatal(err)
	}
	secret := make([]byte, 32) // in production: the same secret on every replica
	rand.Read(secret)

	auth, err := phoneauth.New(phoneauth.Config{
		Store:  phoneauth.NewMemoryStore(),
		Sender: sender,
		Secret: secret,
		Tokens: phoneauth.TokenConfig{Keys: keys, Issuer: "https://auth.example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// 1. Request a code.
	req, err := auth.Request(ctx, phoneauth.RequestParams{Phone: "03012345678", Country: "PK", DeviceID: "device-1", IP: "203.0.113.7"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("code sent to", req.MaskedPhone, "valid for", req.ExpiresIn)

	// 2. Verify it.
	in, err := auth.Verify(ctx, phoneauth.VerifyParams{
		Phone: "+923012345678", RequestID: req.RequestID, Code: lastCode,
		Device: phoneauth.Device{ID: "device-1", Type: "android"},
		IP:     "203.0.113.5",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed in, new user:", in.IsNewUser)

	claims, err := auth.ValidateAccessToken(ctx, in.Tokens.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("access token for the user:", claims.Subject == in.User.ID)

	// 3. Refresh: the refresh token rotates.
	next, err := auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "203.0.113.5"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refreshed, same session:", next.Session.ID == in.Session.ID)

	// A retry of that refresh (a lost response, a second tab) within
	// TokenConfig.ReuseGrace gets the same new refresh token.
	again, err := auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "203.0.113.5"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("retry gets the same token:", again.Tokens.RefreshToken == next.Tokens.RefreshToken)
	third, err := auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: next.Tokens.RefreshToken, IP: "203.0.113.5"})
	if err != nil {
		log.Fatal(err)
	}

	// Presenting an older refresh token is reuse: the session ends.
	_, err = auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "203.0.113.5"})
	fmt.Println("reuse detected:", errors.Is(err, phoneauth.ErrTokenReused))
	_, err = auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: third.Tokens.RefreshToken, IP: "203.0.113.5"})
	fmt.Println("session revoked:", errors.Is(err, phoneauth.ErrInvalidToken))

	// Output:
	// code sent to +92******5678 valid for 5m0s
	// signed in, new user: true
	// access token for the user: true
	// refreshed, same session: true
	// retry gets the same token: true
	// reuse detected: true
	// session revoked: true
}

// Errors are sentinels; a rate limit says how long to wait.
func ExampleRateLimitError() {
	ctx := context.Background()
	key, _ := phoneauth.GenerateEd25519Key("k")
	keys, _ := phoneauth.NewKeySet(key)
	auth, err := phoneauth.New(phoneauth.Config{
		Store:  phoneauth.NewMemoryStore(),
		Sender: phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "id", nil }),
		Secret: []byte("0123456789abcdef0123456789abcdef"),
		Tokens: phoneauth.TokenConfig{Keys: keys},
	})
	if err != nil {
		log.Fatal(err)
	}
	auth.Request(ctx, phoneauth.RequestParams{Phone: "+923012345678", IP: "203.0.113.5"})
	_, err = auth.Request(ctx, phoneauth.RequestParams{Phone: "+923012345678", IP: "203.0.113.5"})

	var rl *phoneauth.RateLimitError
	if errors.As(err, &rl) {
		fmt.Println(rl.Scope, "limit: retry after", rl.RetryAfter.Round(10e9))
	}
	fmt.Println(errors.Is(err, phoneauth.ErrRateLimited))
	// Output:
	// cooldown limit: retry after 30s
	// true
}

// In production, list the countries your users live in: SMS pumping goes
// where texts cost the most, and an allowlist takes every other country off
// the table. Satellite and international-network numbers (region "001")
// are refused unless named.
func ExamplePhonePolicy() {
	policy := phoneauth.PhonePolicy{AllowCountries: []string{"PK", "AE", "GB"}}
	for _, number := range []string{"+923012345678", "+4915123456789", "+881612345678"} {
		ph, err := phoneauth.ParsePhone(number, "")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (%s): %v\n", phoneauth.MaskPhone(ph.E164), ph.Region, policy.Check(ph))
	}
	fmt.Println(phoneauth.PhonePolicy{}.Check(phoneauth.Phone{E164: "+881612345678", Region: phoneauth.RegionNonGeographic, Type: phoneauth.NumberMobile}))
	// Output:
	// +92******5678 (PK): <nil>
	// +49*******6789 (DE): phoneauth: phone number not allowed: numbers of DE are not accepted
	// +881*****5678 (001): phoneauth: phone number not allowed: numbers of 001 are not accepted
	// phoneauth: phone number not allowed: satellite and international-network numbers are not accepted
}
