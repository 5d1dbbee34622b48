package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// post sends body to path and decodes a 200's answer into v.
func post(t *testing.T, url, path, body string, v any) int {
	t.Helper()
	resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestSignIn runs loadgen's flow on the memory store: the code the request
// answers signs in once, with an access token the key verifies, and then
// no more; a wrong code does not.
func TestSignIn(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler(newMemStore(), key))
	defer srv.Close()

	request := func(phone string) string {
		var sent struct {
			Data struct {
				OTP string `json:"otp"`
			} `json:"data"`
		}
		if status := post(t, srv.URL, "/auth/otp/request", `{"phone":"`+phone+`","deviceId":"d"}`, &sent); status != http.StatusOK || len(sent.Data.OTP) != 6 {
			t.Fatalf("request: %d, code %q", status, sent.Data.OTP)
		}
		return sent.Data.OTP
	}
	verify := func(phone, code string, v any) int {
		return post(t, srv.URL, "/auth/otp/verify", `{"otpInfo":{"phone":"`+phone+`","otp":"`+code+`"},"deviceInfo":{"deviceId":"d","deviceType":"t"}}`, v)
	}

	code := request("+923001234567")
	var signedIn struct {
		Data struct {
			Token struct {
				AccessToken  string `json:"accessToken"`
				RefreshToken string `json:"refreshToken"`
			} `json:"token"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"data"`
	}
	if status := verify("+923001234567", code, &signedIn); status != http.StatusOK {
		t.Fatalf("verify: %d", status)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(signedIn.Data.Token.AccessToken, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"EdDSA"})); err != nil {
		t.Fatalf("access token: %v", err)
	}
	if claims["sub"] != signedIn.Data.User.ID || signedIn.Data.User.ID == "" || signedIn.Data.Token.RefreshToken == "" {
		t.Errorf("claims %v, answer %+v", claims, signedIn.Data)
	}
	if status := verify("+923001234567", code, nil); status != http.StatusUnauthorized {
		t.Errorf("second use of the code: %d, want 401", status)
	}

	code = request("+923001234568")
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	if status := verify("+923001234568", wrong, nil); status != http.StatusUnauthorized {
		t.Errorf("wrong code: %d, want 401", status)
	}
	if status := post(t, srv.URL, "/auth/otp/request", `{`, nil); status != http.StatusBadRequest {
		t.Errorf("bad body: %d, want 400", status)
	}
}
