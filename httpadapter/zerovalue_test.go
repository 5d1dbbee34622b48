package httpadapter_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
)

// A Handler that New did not make answers a JSON 500 (and logs why)
// instead of panicking, lets no request through RequireAuth or
// RequireSession, and refuses to be registered, which would mount nothing.
func TestHandlerNotMadeByNew(t *testing.T) {
	called := false
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
	for name, h := range map[string]*httpadapter.Handler{"zero": {}, "nil": nil} {
		for route, serve := range map[string]http.Handler{"ServeHTTP": h, "RequireAuth": h.RequireAuth(next), "RequireSession": h.RequireSession(next)} {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/auth/otp/request", strings.NewReader(`{"phone":"+923012345678"}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer x.y.z")
			serve.ServeHTTP(w, r)
			var body struct{ Code string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 500 || body.Code != httpadapter.CodeInternal || called {
				t.Errorf("%s %s: %d %s (next called: %v)", name, route, w.Code, w.Body, called)
			}
		}
		func() {
			defer func() {
				if v := recover(); v == nil || !strings.Contains(fmtValue(v), "not made by New") {
					t.Errorf("%s: Register panicked with %v, want a panic saying the Handler was not made by New", name, v)
				}
			}()
			h.Register(http.NewServeMux())
		}()
	}
}

// New refuses an Authenticator that phoneauth.New did not make.
func TestNewRefusesAnAuthenticatorNotMadeByNew(t *testing.T) {
	if _, err := httpadapter.New(&phoneauth.Authenticator{}); !errors.Is(err, phoneauth.ErrInvalidConfig) {
		t.Errorf("New with a zero Authenticator: %v, want an error matching phoneauth.ErrInvalidConfig", err)
	}
}

// A nil Option is an error of New, not a panic.
func TestNilOption(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := httpadapter.New(f.auth, nil); err == nil || !strings.Contains(err.Error(), "nil Option") {
		t.Errorf("New with a nil Option: %v", err)
	}
}

func fmtValue(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	s, _ := v.(string)
	return s
}

// Every error of New matches phoneauth.ErrInvalidConfig, as phoneauth.New's
// and the stores' do, and still says what is wrong.
func TestNewErrorsMatchErrInvalidConfig(t *testing.T) {
	f := newFixture(t, nil)
	for name, c := range map[string]struct {
		auth *phoneauth.Authenticator
		opts []httpadapter.Option
		says string
	}{
		"nil Authenticator": {nil, nil, "nil Authenticator"},
		"nil Option":        {f.auth, []httpadapter.Option{nil}, "nil Option"},
		"prefix":            {f.auth, []httpadapter.Option{httpadapter.WithPrefix("auth")}, "invalid prefix"},
		"proxy":             {f.auth, []httpadapter.Option{httpadapter.WithTrustedProxies("nonsense")}, "trusted proxy"},
		"body limit":        {f.auth, []httpadapter.Option{httpadapter.WithMaxBodyBytes(-1)}, "negative body limit"},
		"message key":       {f.auth, []httpadapter.Option{httpadapter.WithMessages(map[string]string{"nope": "x"})}, "unknown message key"},
		"JWKS path":         {f.auth, []httpadapter.Option{httpadapter.WithJWKSPath("jwks")}, "invalid JWKS path"},
		"Retry-After":       {f.auth, []httpadapter.Option{httpadapter.WithUnavailableRetryAfter(-1)}, "Retry-After"},
		"collision":         {f.auth, []httpadapter.Option{httpadapter.WithPrefix("/x"), httpadapter.WithPhoneVerificationPrefix("/x")}, "conflicts"},
	} {
		_, err := httpadapter.New(c.auth, c.opts...)
		if !errors.Is(err, phoneauth.ErrInvalidConfig) || !strings.Contains(fmtValue(err), c.says) {
			t.Errorf("%s: %v, want an error matching ErrInvalidConfig that says %q", name, err, c.says)
		}
	}
}
