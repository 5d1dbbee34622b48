package httpadapter_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

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
		httpadapter.CodeInvalidRequest, httpadapter.CodeInvalidPhone, httpadapter.CodePhoneNotAllowed,
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
