package phoneauth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/phoneauth/phoneauth"
)

// An Authenticator that New did not make, zero or nil, answers every call
// with an error matching ErrInvalidConfig instead of panicking.
func TestAuthenticatorNotMadeByNew(t *testing.T) {
	ctx := context.Background()
	for name, a := range map[string]*phoneauth.Authenticator{"zero": {}, "nil": nil} {
		calls := map[string]func() error{
			"Request": func() error {
				_, err := a.Request(ctx, phoneauth.RequestParams{Phone: "+923012345678", IP: "192.0.2.1"})
				return err
			},
			"Resend": func() error {
				_, err := a.Resend(ctx, phoneauth.RequestParams{Phone: "+923012345678", IP: "192.0.2.1"})
				return err
			},
			"Verify": func() error {
				_, err := a.Verify(ctx, phoneauth.VerifyParams{Phone: "+923012345678", Code: "123456", IP: "192.0.2.1"})
				return err
			},
			"Refresh": func() error {
				_, err := a.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: "t", IP: "192.0.2.1"})
				return err
			},
			"Logout":        func() error { return a.Logout(ctx, "t") },
			"RevokeSession": func() error { return a.RevokeSession(ctx, "u", "s") },
			"Sessions": func() error {
				_, err := a.Sessions(ctx, "u")
				return err
			},
			"ValidateAccessToken": func() error {
				_, err := a.ValidateAccessToken(ctx, "eyJhbGciOiJFZERTQSJ9.e30.c2ln")
				return err
			},
			"ValidateSession": func() error {
				_, err := a.ValidateSession(ctx, "eyJhbGciOiJFZERTQSJ9.e30.c2ln")
				return err
			},
			"StartPhoneVerification": func() error {
				_, err := a.StartPhoneVerification(ctx, phoneauth.PhoneVerificationParams{UserID: "u", SessionID: "s", Phone: "+923012345678", IP: "192.0.2.1"})
				return err
			},
			"ResendPhoneVerification": func() error {
				_, err := a.ResendPhoneVerification(ctx, phoneauth.PhoneVerificationParams{UserID: "u", SessionID: "s", Phone: "+923012345678", IP: "192.0.2.1"})
				return err
			},
			"ConfirmPhoneVerification": func() error {
				return a.ConfirmPhoneVerification(ctx, phoneauth.ConfirmPhoneVerificationParams{UserID: "u", SessionID: "s", Phone: "+923012345678", Code: "123456", IP: "192.0.2.1"})
			},
		}
		for call, f := range calls {
			t.Run(name+"/"+call, func(t *testing.T) {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("panic: %v", v)
					}
				}()
				if err := f(); !errors.Is(err, phoneauth.ErrInvalidConfig) {
					t.Errorf("error %v, want one matching ErrInvalidConfig", err)
				}
			})
		}
		t.Run(name+"/accessors", func(t *testing.T) {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("panic: %v", v)
				}
			}()
			if a.Development() || a.Clock() == nil || string(a.JWKS()) != `{"keys":[]}` {
				t.Errorf("Development %v, Clock %v, JWKS %s", a.Development(), a.Clock(), a.JWKS())
			}
		})
	}
}

// A challenge without a code hash matches nothing, not even an empty
// candidate: ChallengeMatches is for stores, which may get either wrong.
func TestChallengeMatchesNeedsAHash(t *testing.T) {
	for _, hashes := range [][][]byte{nil, {nil}, {{}}, {[]byte("x"), nil}} {
		if phoneauth.ChallengeMatches(phoneauth.Challenge{}, hashes) || phoneauth.ChallengeMatches(phoneauth.Challenge{CodeHash: []byte{}}, hashes) {
			t.Errorf("a challenge without a code hash matches %q", hashes)
		}
	}
	if !phoneauth.ChallengeMatches(phoneauth.Challenge{CodeHash: []byte("x")}, [][]byte{nil, []byte("x")}) {
		t.Error("a matching hash after an empty one does not match")
	}
}
