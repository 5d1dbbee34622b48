package phoneauth_test

import (
	"crypto/ed25519"
	"fmt"
	"log"

	"github.com/phoneauth/phoneauth"
)

// A key set in the middle of a rotation: the new key signs, and the old
// one, reduced to its public half, still verifies the access tokens it signed
// until they expire. Both are published in the JWKS.
func ExampleNewKeySet() {
	// In production both keys are loaded from a secret store; fixed seeds
	// keep this example's output stable.
	newKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	oldKey := ed25519.NewKeyFromSeed([]byte("0123456789abcdef0123456789abcdef"))

	signing, err := phoneauth.NewSigningKey("2026-02", newKey)
	if err != nil {
		log.Fatal(err)
	}
	retired, err := phoneauth.NewVerificationKey("2026-01", oldKey.Public())
	if err != nil {
		log.Fatal(err)
	}
	keys, err := phoneauth.NewKeySet(signing, retired)
	if err != nil {
		log.Fatal(err)
	}
	// Serve this at /.well-known/jwks.json; Config.Tokens.Keys = keys.
	fmt.Printf("%s\n", keys.JWKS())
	// Output:
	// {"keys":[{"kty":"OKP","crv":"Ed25519","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik","kid":"2026-02","alg":"EdDSA","use":"sig"},{"kty":"OKP","crv":"Ed25519","x":"I7xUkSwebpLEqGglyGfif_3FVb_71CRPF6Jqv__ull0","kid":"2026-01","alg":"EdDSA","use":"sig"}]}
}
