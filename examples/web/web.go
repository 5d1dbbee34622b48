// Package web is the sign-in page of the example server: plain HTML, CSS and
// a small script, embedded in the binary, that walk a person through
// phoneauth's routes on the same origin. Step one asks for a phone number
// (the country comes from the browser's language), step two for the code,
// with a resend countdown and, in development mode, the code itself on the
// page; step three shows the signed-in user and device session, refreshes
// the access token shortly before it expires, and signs out.
//
// The library serves no pages; this package exists so that the whole flow
// can be tried in a browser. Mount it at "/" beside the adapter's routes:
//
//	h, err := httpadapter.New(auth)
//	…
//	mux := http.NewServeMux()
//	h.Register(mux)                // POST /auth/otp/request, …
//	mux.Handle("/", web.Handler()) // the page
//
// The page expects the adapter's default prefix "/auth" and keeps the tokens
// in memory only, so reloading it signs out of the page (not of the server).
package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the page's files
	"encoding/hex"
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

// Handler returns a handler that serves the sign-in page at "/" and its
// stylesheet and script at "/assets/style.css" and "/assets/app.js", to GET
// and HEAD. Any other path is 404 and any other method 405, so mounted at
// "/" it does not hide mistyped API paths behind a page. Responses carry a
// strict Content-Security-Policy and an ETag; browsers revalidate them on
// every load, so a rebuilt server never leaves a stale script behind.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", file("index.html", indexHTML))
	mux.Handle("GET /assets/style.css", file("style.css", styleCSS))
	mux.Handle("GET /assets/app.js", file("app.js", appJS))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
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
