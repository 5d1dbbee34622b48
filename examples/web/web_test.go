package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/phoneauth/phoneauth/examples/web"
)

func TestHandlerServesPageAndAssets(t *testing.T) {
	h := web.Handler()
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `autocomplete="one-time-code"`},
		{"/assets/style.css", "text/css; charset=utf-8", ".digits"},
		{"/assets/app.js", "text/javascript; charset=utf-8", `"/auth/otp/verify"`},
		{"/assets/countries.json", "application/json", `["GB",44,"7400 123456","0",1]`},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", tc.path, rec.Code)
			continue
		}
		if got := rec.Header().Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", tc.path)
			continue
		}
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.Header.Set("If-None-Match", etag)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: status %d, want 304", tc.path, rec.Code)
		}
	}
}

func TestPageHasSixCodeInputs(t *testing.T) {
	rec := httptest.NewRecorder()
	web.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	page := rec.Body.String()
	for _, attr := range []string{`autocomplete="one-time-code"`, `inputmode="numeric"`} {
		if n := strings.Count(page, attr); n != 6 {
			t.Errorf("%s appears %d times, want 6 (one per digit)", attr, n)
		}
	}
	for _, attr := range []string{`aria-live="assertive"`, `aria-live="polite"`, `autocomplete="tel"`, `<meta name="phoneauth-webotp" content="">`} {
		if !strings.Contains(page, attr) {
			t.Errorf("page lacks %s", attr)
		}
	}
}

func TestHandlerSetsSecurityHeaders(t *testing.T) {
	h := web.Handler()
	for _, path := range []string{"/", "/assets/app.js", "/assets/countries.json", "/nope"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		for name, want := range map[string]string{
			"Cross-Origin-Opener-Policy":   "same-origin",
			"Cross-Origin-Resource-Policy": "same-origin",
			"X-Content-Type-Options":       "nosniff",
			"Referrer-Policy":              "no-referrer",
		} {
			if got := rec.Header().Get(name); got != want {
				t.Errorf("GET %s: %s %q, want %q", path, name, got, want)
			}
		}
		pp := rec.Header().Get("Permissions-Policy")
		for _, want := range []string{"camera=()", "geolocation=()", "microphone=()", "otp-credentials=(self)"} {
			if !strings.Contains(pp, want) {
				t.Errorf("GET %s: Permissions-Policy %q lacks %s", path, pp, want)
			}
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
}

func TestWithWebOTPNamesTheDomainInThePage(t *testing.T) {
	for _, tc := range []struct{ domain, want string }{
		{"example.com", `<meta name="phoneauth-webotp" content="example.com">`},
		{`a"><script>`, `<meta name="phoneauth-webotp" content="a&#34;&gt;&lt;script&gt;">`},
	} {
		rec := httptest.NewRecorder()
		web.Handler(web.WithWebOTP(tc.domain)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if page := rec.Body.String(); !strings.Contains(page, tc.want) || strings.Count(page, "phoneauth-webotp") != 1 {
			t.Errorf("WithWebOTP(%q): page lacks %s", tc.domain, tc.want)
		}
	}
}

func TestCountriesListEveryRegionWithItsCallingCode(t *testing.T) {
	rec := httptest.NewRecorder()
	web.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/assets/countries.json", nil))
	var rows [][]any
	if err := json.Unmarshal(rec.Body.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	byRegion := map[string][]any{}
	mains := map[float64][]string{}
	for _, r := range rows {
		if len(r) != 5 {
			t.Fatalf("row %v: want [region, calling code, example, trunk prefix, main]", r)
		}
		byRegion[r[0].(string)] = r
		if r[4].(float64) == 1 {
			mains[r[1].(float64)] = append(mains[r[1].(float64)], r[0].(string))
		}
	}
	if want := len(phonenumbers.GetSupportedRegions()); len(rows) != want {
		t.Errorf("%d regions, want phonenumbers' %d", len(rows), want)
	}
	for region, want := range map[string][]any{
		"US": {"US", 1.0, "201-555-0123", "1", 1.0},
		"CA": {"CA", 1.0, "506-234-5678", "1", 0.0},
		"GB": {"GB", 44.0, "7400 123456", "0", 1.0},
		"PK": {"PK", 92.0, "301 2345678", "0", 1.0},
		"IT": {"IT", 39.0, "312 345 6789", "", 1.0},
	} {
		if got := byRegion[region]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", region, got, want)
		}
	}
	for cc, regions := range mains {
		if len(regions) != 1 {
			t.Errorf("calling code %v has main regions %v, want one", cc, regions)
		}
	}
}

// The page serves GET and HEAD of its own paths; any other path or method
// is 404 or 405, or goes to the fallback (WithFallback), without the
// page's headers.
func TestHandlerRejectsOtherPathsAndMethods(t *testing.T) {
	const toFallback = http.StatusTeapot
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(toFallback) })
	plain, withFallback := web.Handler(), web.Handler(web.WithFallback(fallback))
	for _, tc := range []struct {
		method, path           string
		want, wantWithFallback int
	}{
		{http.MethodGet, "/index.html", http.StatusNotFound, toFallback},
		{http.MethodGet, "/assets/", http.StatusNotFound, toFallback},
		{http.MethodGet, "/assets/nope.js", http.StatusNotFound, toFallback},
		{http.MethodGet, "/auth/otp/requets", http.StatusNotFound, toFallback},
		{http.MethodPost, "/auth/otp/request/", http.StatusNotFound, toFallback},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, toFallback},
		{http.MethodHead, "/", http.StatusOK, http.StatusOK},
		{http.MethodGet, "/assets/app.js", http.StatusOK, http.StatusOK},
	} {
		for _, c := range []struct {
			h    http.Handler
			want int
		}{{plain, tc.want}, {withFallback, tc.wantWithFallback}} {
			h, want := c.h, c.want
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != want {
				t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, want)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); rec.Code == toFallback && csp != "" {
				t.Errorf("%s %s: the fallback's answer has the page's headers", tc.method, tc.path)
			}
		}
	}
}
