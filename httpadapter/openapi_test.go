package httpadapter_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
)

// documentedRoutes returns the operations of an OpenAPI document as
// ServeMux patterns, and checks that every $ref in it resolves.
func documentedRoutes(t *testing.T, doc []byte) []string {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("openapi: %v", err)
	}
	if v, _ := d["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi version %q", v)
	}
	var routes []string
	for path, item := range d["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			routes = append(routes, strings.ToUpper(method)+" "+path)
			responses, _ := op.(map[string]any)["responses"].(map[string]any)
			if _, ok := responses["200"]; !ok {
				t.Errorf("%s %s: no 200 response", method, path)
			}
			if method == "post" {
				for _, status := range []string{"400", "405", "413", "415", "500", "503"} {
					if _, ok := responses[status]; !ok {
						t.Errorf("%s %s: no %s response", method, path, status)
					}
				}
			}
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var target any = d
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := target.(map[string]any)
					target = m[part]
				}
				if target == nil {
					t.Errorf("unresolved $ref %q", ref)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(d)
	slices.Sort(routes)
	return routes
}

// TestOpenAPIMatchesRoutes: every mounted route is documented and every
// documented route is mounted, with the default paths and with others.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	for name, opts := range map[string][]httpadapter.Option{
		"defaults": {httpadapter.WithOpenAPI("/openapi.json")},
		"custom paths": {httpadapter.WithPrefix("/v1"), httpadapter.WithPhoneVerificationPrefix("/me/phone"),
			httpadapter.WithJWKSPath("/keys.json"), httpadapter.WithOpenAPI("/docs/api.json")},
		"sign-in only":       {httpadapter.WithRoutes(httpadapter.SignInRoutes)},
		"phone verification": {httpadapter.WithRoutes(httpadapter.PhoneVerificationRoutes | httpadapter.JWKSRoute)},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil, opts...)
			mounted := f.h.Routes()
			slices.Sort(mounted)
			if documented := documentedRoutes(t, f.h.OpenAPI()); !slices.Equal(mounted, documented) {
				t.Errorf("mounted    %q\ndocumented %q", mounted, documented)
			}
		})
	}
	// The served document is the same, cacheable.
	f := newFixture(t, nil, httpadapter.WithOpenAPI("/openapi.json"))
	w := f.do("GET", "/openapi.json", "")
	if w.Code != 200 || w.Body.String() != string(f.h.OpenAPI()) || w.Header().Get("ETag") == "" {
		t.Errorf("served: %d", w.Code)
	}
	if len(f.h.Routes()) != 10 {
		t.Errorf("routes %q", f.h.Routes())
	}
}

// TestOpenAPIErrorCodes: the document's error code enum is the codes the
// adapter answers with.
func TestOpenAPIErrorCodes(t *testing.T) {
	f := newFixture(t, nil)
	var d struct {
		Components struct {
			Schemas struct {
				ErrorCode struct {
					Enum []string `json:"enum"`
				}
			}
		}
	}
	if err := json.Unmarshal(f.h.OpenAPI(), &d); err != nil {
		t.Fatal(err)
	}
	want := []string{
		httpadapter.CodeInvalidRequest, httpadapter.CodeInvalidCountry, httpadapter.CodeInvalidPhone, httpadapter.CodePhoneNotAllowed,
		httpadapter.CodeInvalidOTP, httpadapter.CodeVerificationFailed, httpadapter.CodeNoPendingCode,
		httpadapter.CodeSignupNotAllowed, httpadapter.CodePhoneTaken, httpadapter.CodeCaptchaFailed,
		httpadapter.CodeCaptchaUnavailable, httpadapter.CodeRateLimited, httpadapter.CodeCaptchaRequired, httpadapter.CodeRangeThrottled, httpadapter.CodeSendFailed,
		httpadapter.CodeInvalidToken, httpadapter.CodeTokenReused, httpadapter.CodeReauthRequired, httpadapter.CodeStoreUnavailable,
		httpadapter.CodeNotFound, httpadapter.CodeUnauthorized, httpadapter.CodeMethodNotAllowed,
		httpadapter.CodeBodyTooLarge, httpadapter.CodeUnsupportedMediaType, httpadapter.CodeInternal,
	}
	got := d.Components.Schemas.ErrorCode.Enum
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("enum %q\nwant %q", got, want)
	}
}

// TestOpenAPIExamplesAreRealValues: every authCode in the document's
// examples has the form register answers with, and the reasons of
// phone_not_allowed are the core's.
func TestOpenAPIExamplesAreRealValues(t *testing.T) {
	f := newFixture(t, nil)
	var d any
	if err := json.Unmarshal(f.h.OpenAPI(), &d); err != nil {
		t.Fatal(err)
	}
	tok := f.signIn("+923012345678").Token.AccessToken
	real := wantBare(t, f.do("POST", "/fe/users/auth/otp/register", `{"phone_number": "+919876543219"}`, "user-jwt-token", tok), 200)["authCode"].(string)
	form := regexp.MustCompile(`^[1-9][0-9]{5}$`)
	if !form.MatchString(real) {
		t.Fatalf("register's authCode %q", real)
	}
	var authCodes []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(k, e)
			}
		case []any:
			for _, e := range v {
				walk(key, e)
			}
		case string, float64:
			if key == "authCode" {
				authCodes = append(authCodes, fmt.Sprint(v))
			}
		}
	}
	walk("", d)
	if len(authCodes) < 3 { // register, resend, verify
		t.Fatalf("%d authCode examples", len(authCodes))
	}
	for _, c := range authCodes {
		if !form.MatchString(c) {
			t.Errorf("example authCode %q is not of the form of %q", c, real)
		}
	}
	schemas := d.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)
	var reasons []string
	for _, r := range schemas["ErrorEnvelope"].(map[string]any)["properties"].(map[string]any)["reason"].(map[string]any)["enum"].([]any) {
		reasons = append(reasons, r.(string))
	}
	want := []string{phoneauth.ReasonLandline, phoneauth.ReasonTollFree, phoneauth.ReasonPremiumRate, phoneauth.ReasonSharedCost,
		phoneauth.ReasonSatellite, phoneauth.ReasonCountryNotAllowed, phoneauth.ReasonTypeNotAllowed}
	slices.Sort(reasons)
	slices.Sort(want)
	if !slices.Equal(reasons, want) {
		t.Errorf("reason enum %q, want %q", reasons, want)
	}
}
