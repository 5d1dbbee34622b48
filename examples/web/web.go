// Package web is the sign-in page of the example server: plain HTML, CSS and
// a small script, embedded in the binary, that walk a person through
// phoneauth's routes on the same origin. Step one asks for a phone number,
// with a searchable list of every region and its calling code (from
// phonenumbers' metadata; the first guess comes from the browser's
// language), formatted as it is typed; step two for the code, with a resend
// countdown, WebOTP if configured and, in development mode, the code itself
// on the page; step three shows the signed-in user and device session,
// refreshes the access token shortly before it expires, and signs out.
//
// The library serves no pages; this package exists so that the whole flow
// can be tried in a browser. Mount it at "/" beside the adapter's routes:
//
//	h, err := httpadapter.New(auth)
//	…
//	mux := http.NewServeMux()
//	h.Register(mux)                                   // POST /auth/otp/request, …
//	mux.Handle("/", web.Handler(web.WithFallback(h))) // the page; any other path: the adapter's JSON 404
//
// The page expects the adapter's default prefix "/auth". Each step is a
// history entry and the pending request is kept in the tab's sessionStorage,
// so Back, Forward and reload return to the right step; the tokens stay in
// memory only, so reloading the signed-in step signs out of the page (not of
// the server). See README.md beside this file for how the page handles a
// number entered again during the resend cooldown.
package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the page's files
	"encoding/hex"
	"html"
	"net/http"
	"time"
)

var (
	//go:embed static/index.html
	indexHTML []byte
	//go:embed static/style.css
	styleCSS []byte
	//go:embed static/app.js
	appJS []byte
)

// contentSecurityPolicy allows the page its own script, styles and API
// calls and nothing else: no inline script, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// permissionsPolicy turns off the powerful features the page does not use
// and keeps WebOTP (otp-credentials) for the page itself.
const permissionsPolicy = "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), " +
	"magnetometer=(), microphone=(), payment=(), publickey-credentials-get=(), usb=(), otp-credentials=(self)"

// An Option configures the Handler.
type Option func(*options)

type options struct {
	webOTPDomain string
	fallback     http.Handler
}

// WithWebOTP tells the page that the server's messages end with the WebOTP
// line for domain (phoneauth.Config.WebOTPDomain), so that browsers that
// support WebOTP can read the code from the SMS and fill it in. The page
// must then be served from domain.
func WithWebOTP(domain string) Option {
	return func(o *options) { o.webOTPDomain = domain }
}

// WithFallback hands every request the page does not serve (another path,
// or another method than GET and HEAD) to h instead of answering it with
// net/http's plain-text 404 or 405. Mounted at "/" beside an API, pass the
// adapter (an *httpadapter.Handler answers paths it does not know with its
// JSON 404), so that a client that gets a path wrong still gets JSON.
func WithFallback(h http.Handler) Option {
	return func(o *options) { o.fallback = h }
}

// Handler returns a handler that serves the sign-in page at "/", its
// stylesheet and script at "/assets/style.css" and "/assets/app.js", and
// the country picker's list at "/assets/countries.json", to GET and HEAD.
// Any other path is 404 and any other method 405 (or, with WithFallback,
// goes to the fallback), so mounted at "/" it does not hide mistyped API
// paths behind a page. Responses carry a strict
// Content-Security-Policy, a Permissions-Policy, Cross-Origin-Opener-Policy
// and Cross-Origin-Resource-Policy "same-origin", and an ETag; browsers
// revalidate them on every load, so a rebuilt server never leaves a stale
// script behind.
func Handler(opts ...Option) http.Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", file("index.html", pageHTML(o)))
	mux.Handle("GET /assets/style.css", file("style.css", styleCSS))
	mux.Handle("GET /assets/app.js", file("app.js", appJS))
	mux.Handle("GET /assets/countries.json", file("countries.json", countries()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.fallback != nil {
			if _, pattern := mux.Handler(r); pattern == "" { // a 404 or a 405
				o.fallback.ServeHTTP(w, r)
				return
			}
		}
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("Permissions-Policy", permissionsPolicy)
		hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
		hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

// pageHTML is index.html with the settings of o in its meta tags.
func pageHTML(o options) []byte {
	meta := `<meta name="phoneauth-webotp" content="">`
	if !bytes.Contains(indexHTML, []byte(meta)) {
		panic("web: index.html lacks " + meta) // a broken build, found by any test
	}
	set := `<meta name="phoneauth-webotp" content="` + html.EscapeString(o.webOTPDomain) + `">`
	return bytes.Replace(indexHTML, []byte(meta), []byte(set), 1)
}

// file serves one embedded file; http.ServeContent answers conditional and
// range requests and sets the Content-Type from name's extension.
func file(name string, data []byte) http.Handler {
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
}
