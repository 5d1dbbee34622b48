package httpadapter_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
)

// newExampleAuthenticator returns an Authenticator on the memory store
// whose test number +923012345678 takes the code 249364, so that the
// examples need no SMS.
func newExampleAuthenticator() *phoneauth.Authenticator {
	key, err := phoneauth.GenerateEd25519Key("2026-01")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		log.Fatal(err)
	}
	auth, err := phoneauth.New(phoneauth.Config{
		Store:  phoneauth.NewMemoryStore(),
		Sender: phoneauth.LogSender{},
		Secret: []byte(rand.Text() + rand.Text()), // in production: the same secret on every replica
		Tokens: phoneauth.TokenConfig{Keys: keys},
		TestNumbers: map[string]phoneauth.TestNumber{
			"+923012345678": {Code: "249364", Expires: time.Now().Add(time.Hour)},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	return auth
}

// post sends a JSON body to h and returns the recorded response.
func post(h http.Handler, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, bytes.NewBufferString(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Register mounts the routes on the server's own mux, beside its other
// routes.
func ExampleHandler_Register() {
	h, err := httpadapter.New(newExampleAuthenticator())
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })

	w := post(mux, "/auth/otp/request", `{"phone": "+923012345678", "deviceId": "d1"}`)
	fmt.Println("request:", w.Code)
	w = post(mux, "/auth/otp/verify", `{"otpInfo": {"phone": "+923012345678", "otp": "249364"}, "deviceInfo": {"deviceId": "d1"}}`)
	fmt.Println("verify:", w.Code)
	w = post(mux, "/auth/otp/verify", `{"otpInfo": {"phone": "+923012345678", "otp": "249364"}, "deviceInfo": {"deviceId": "d1"}}`)
	fmt.Println("the same code again:", w.Code)
	// Output:
	// request: 200
	// verify: 200
	// the same code again: 401
}

// RequireAuth guards the server's own routes with the access tokens that
// verify and refresh return; the handler finds the user in the claims.
func ExampleHandler_RequireAuth() {
	h, err := httpadapter.New(newExampleAuthenticator())
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	mux.Handle("GET /api/me", h.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := httpadapter.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "phone %s", c.Phone)
	})))

	me := func(token string) {
		r := httptest.NewRequest("GET", "/api/me", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			var e struct{ Message, Code string }
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			fmt.Println(w.Code, e.Code, e.Message, w.Header().Get("WWW-Authenticate"))
			return
		}
		fmt.Println(w.Code, w.Body.String())
	}
	me("")          // no token: a 401 in the envelope
	me("not-a-jwt") // an invalid one

	post(mux, "/auth/otp/request", `{"phone": "+923012345678", "deviceId": "d1"}`)
	w := post(mux, "/auth/otp/verify", `{"otpInfo": {"phone": "+923012345678", "otp": "249364"}, "deviceInfo": {"deviceId": "d1"}}`)
	var signIn struct {
		Data struct {
			Token struct{ AccessToken string }
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &signIn); err != nil {
		log.Fatal(err)
	}
	me(signIn.Data.Token.AccessToken)
	// Output:
	// 401 unauthorized UN_AUTHORIZED Bearer
	// 401 unauthorized UN_AUTHORIZED Bearer error="invalid_token"
	// 200 phone +923012345678
}
