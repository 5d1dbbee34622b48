package phoneauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/phoneauth/phoneauth"
)

// A wrong code says how many attempts the code has left.
func ExampleInvalidOTPError() {
	ctx := context.Background()
	key, _ := phoneauth.GenerateEd25519Key("k")
	keys, _ := phoneauth.NewKeySet(key)
	var code string
	auth, err := phoneauth.New(phoneauth.Config{
		Store: phoneauth.NewMemoryStore(),
		Sender: phoneauth.SenderFunc(func(_ context.Context, m phoneauth.Message) (string, error) {
			code = m.Code
			return "id", nil
		}),
		Secret: []byte("0123456789abcdef0123456789abcdef"),
		Tokens: phoneauth.TokenConfig{Keys: keys},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := auth.Request(ctx, phoneauth.RequestParams{Phone: "+923012345678", IP: "203.0.113.5"}); err != nil {
		log.Fatal(err)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	_, err = auth.Verify(ctx, phoneauth.VerifyParams{Phone: "+923012345678", Code: wrong, IP: "203.0.113.5"})

	var e *phoneauth.InvalidOTPError
	if errors.As(err, &e) {
		fmt.Println("attempts left:", e.AttemptsLeft)
	}
	fmt.Println(errors.Is(err, phoneauth.ErrInvalidOTP))
	// Output:
	// attempts left: 4
	// true
}

// A number the policy refuses says why.
func ExamplePhoneNotAllowedError() {
	ph, err := phoneauth.ParsePhone("+1 800 555 0123", "")
	if err != nil {
		log.Fatal(err)
	}
	err = phoneauth.PhonePolicy{}.Check(ph)

	var e *phoneauth.PhoneNotAllowedError
	if errors.As(err, &e) {
		fmt.Println(e.Reason, "-", e.Detail)
	}
	// Output:
	// toll_free - toll-free numbers are not accepted
}

// New reports every problem of a Config at once.
func ExampleNew_invalidConfig() {
	_, err := phoneauth.New(phoneauth.Config{Secret: []byte("short")})
	fmt.Println(errors.Is(err, phoneauth.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// true
	// phoneauth: invalid config: Store is required
	// phoneauth: invalid config: Sender is required
	// phoneauth: invalid config: Secret must be at least 32 bytes, got 5
	// phoneauth: invalid config: Tokens.Keys is required (see NewKeySet)
}
