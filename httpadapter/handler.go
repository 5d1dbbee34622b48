// Package httpadapter serves a phoneauth.Authenticator over net/http: the
// documented JSON routes, the client-IP rules for the limits, and middleware
// that guards the caller's own routes with access tokens.
//
// # Mounting
//
// New returns a Handler. Register adds its routes to a *http.ServeMux as
// Go 1.22 method patterns, beside the caller's own routes:
//
//	auth, err := phoneauth.New(cfg)
//	…
//	h, err := httpadapter.New(auth, httpadapter.WithTrustedProxies("10.0.0.0/8"))
//	…
//	mux := http.NewServeMux()
//	h.Register(mux)
//	mux.Handle("GET /api/me", h.RequireAuth(http.HandlerFunc(me)))
//
// The Handler is also a plain http.Handler that serves its routes (and a
// JSON 404 for any other path) on the request's full URL path, for other
// routers: chi's r.Mount("/", h), echo's e.Any("/*", echo.WrapHandler(h)),
// gin's r.NoRoute(gin.WrapH(h)).
//
// # Routes
//
// With the default options (each prefix and path is an Option):
//
//	POST /auth/otp/request             send a code                    (envelope)
//	POST /auth/otp/resend              send a new code                (envelope)
//	POST /auth/otp/verify              check it, sign in              (envelope)
//	POST /auth/token/refresh           rotate the refresh token       (envelope)
//	POST /auth/logout                  end the session                (envelope)
//	GET  /.well-known/jwks.json        the public keys of access tokens
//	POST /fe/users/auth/otp/register   a signed-in user adds a phone  (bare)
//	POST /fe/users/auth/otp/verify     …confirms it with the code     (bare)
//	POST /fe/users/auth/otp/resend     …asks for a new code           (bare)
//
// The sign-in routes answer with the envelope
//
//	{"success": true, "message": "request processed successfully", "data": {…}, "timestamp": "2026-02-03T14:46:16.374Z"}
//	{"success": false, "message": "Invalid phone number", "code": "invalid_phone", "timestamp": "…"}
//
// and the phone-verification routes with the bare shapes of their clients:
// {"authCode": "…", "isNewUser": false}, {"message": "Phone number verified
// successfully"}, and errors as {"message": "UN_AUTHORIZED", "code":
// "unauthorized"}. OpenAPI returns an OpenAPI 3.1 document of all routes;
// WithOpenAPI also serves it.
//
// # The code in development mode
//
// When the Authenticator runs in development mode, request, resend,
// register and phone resend responses carry the code as "otp". It is a JSON
// string ("012345"), not a number as in one of the API's original examples:
// a number would lose a leading zero. Verify accepts the code either way,
// and zero-pads a number to the code length, so a client that sends the
// number back still works.
//
// # Input
//
// Bodies are JSON objects of at most 16 KiB (WithMaxBodyBytes). Unknown
// fields are ignored. Bad input is a 4xx JSON error that says what is
// wrong, never a 5xx: malformed JSON (400, with the line and column), a
// field of the wrong type or a missing field (400, naming the field), a
// Content-Type other than JSON (415), a body over the limit (413), a wrong
// method (405 with Allow). An empty body counts as {}. Every error maps to a
// status, a code and a message through one table (see the Code constants);
// every 429 and 503 carries Retry-After. Every response, a 5xx included, is
// JSON: a panic below a route (a Sender's, a Store's) is a JSON 500, not a
// dropped connection. No cache may keep a JSON answer, which may hold
// tokens or a code: each carries Cache-Control: no-store and Pragma:
// no-cache (RFC 6749 section 5.1), and X-Content-Type-Options: nosniff. The
// JWKS and OpenAPI documents are public: cacheable for five minutes, with an
// ETag.
//
// Beside its code, an error may say more, without revealing anything about
// an account: "reason" on a phone_not_allowed ("toll_free", "landline",
// "country_not_allowed"…), "attemptsLeft" on an invalid_otp, and on a
// verification_failed a "hint" that the user needs a new code.
//
// # Client IP
//
// The per-address limits count the TCP peer of the request. Only when the
// peer is a trusted proxy (WithTrustedProxies, or a Unix socket with
// WithTrustedUnixSocket) does the Handler read X-Forwarded-For, and then it
// takes the rightmost address that is not itself a trusted proxy:
// everything to the left of it could have been written by the client. A
// peer with no address it can read (a Unix socket without that option)
// counts as the one shared client "unknown". The Authenticator limits IPv6
// clients per /64, with the /56 and /48 as aggregates.
package httpadapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/internal/warnlog"
)

// DefaultMaxBodyBytes is the default limit on request bodies (16 KiB).
const DefaultMaxBodyBytes = 16 << 10

// Default paths of the routes.
const (
	DefaultPrefix                  = "/auth"
	DefaultPhoneVerificationPrefix = "/fe/users/auth"
	DefaultJWKSPath                = "/.well-known/jwks.json"
)

// A RouteSet selects groups of routes to mount (WithRoutes).
type RouteSet uint8

// The route sets. AllRoutes is the default.
const (
	// SignInRoutes are request, resend, verify, refresh and logout under
	// the prefix (WithPrefix).
	SignInRoutes RouteSet = 1 << iota
	// PhoneVerificationRoutes are register, verify and resend under the
	// phone-verification prefix (WithPhoneVerificationPrefix).
	PhoneVerificationRoutes
	// JWKSRoute is the JSON Web Key Set (WithJWKSPath).
	JWKSRoute

	// AllRoutes is every route set.
	AllRoutes = SignInRoutes | PhoneVerificationRoutes | JWKSRoute
)

// An Option configures a Handler.
type Option func(*options)

type options struct {
	prefix      string
	phonePrefix string
	jwksPath    string
	openAPIPath string
	routes      RouteSet
	messages    map[string]string
	proxies     []string
	trustUnix   bool
	maxBody     int64
	logger      *slog.Logger
	unavailable time.Duration
}

// WithPrefix sets the path prefix of the sign-in routes. Default "/auth";
// "" mounts them at the root ("/otp/request"…).
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithPhoneVerificationPrefix sets the path prefix of the phone-verification
// routes. Default "/fe/users/auth".
func WithPhoneVerificationPrefix(prefix string) Option {
	return func(o *options) { o.phonePrefix = prefix }
}

// WithJWKSPath sets the path of the JSON Web Key Set. Default
// "/.well-known/jwks.json".
func WithJWKSPath(path string) Option { return func(o *options) { o.jwksPath = path } }

// WithOpenAPI serves the OpenAPI document (see Handler.OpenAPI) with GET at
// path, such as "/openapi.json". Default: not served.
func WithOpenAPI(path string) Option { return func(o *options) { o.openAPIPath = path } }

// WithRoutes selects the route sets to mount. Default AllRoutes.
func WithRoutes(sets RouteSet) Option { return func(o *options) { o.routes = sets } }

// WithMessages overrides response messages. Keys are error codes
// (CodeRateLimited…), whose message then replaces the default and any
// detail, or MessageSuccess, MessagePhoneVerified and MessageNewCodeHint.
// Later calls add to earlier ones. New rejects an unknown key. For the
// literal text of seed 000's 429, for instance:
//
//	httpadapter.WithMessages(map[string]string{httpadapter.CodeRateLimited: "Two many request"})
func WithMessages(messages map[string]string) Option {
	return func(o *options) {
		if o.messages == nil {
			o.messages = make(map[string]string, len(messages))
		}
		for k, v := range messages {
			o.messages[k] = v
		}
	}
}

// WithTrustedProxies names the proxies (load balancers, CDNs) whose
// X-Forwarded-For header is believed, as CIDR prefixes ("10.0.0.0/8") or
// single addresses ("192.0.2.7", "::1"). Default: none, so the TCP peer is
// the client.
func WithTrustedProxies(cidrs ...string) Option {
	return func(o *options) { o.proxies = append(o.proxies, cidrs...) }
}

// WithTrustedUnixSocket believes the X-Forwarded-For header of requests
// that came through a Unix socket (whose peer has no IP address), as for a
// trusted proxy: for a server that listens on a socket behind its own
// reverse proxy. Without it such requests, like any request whose peer
// address does not parse, all count as one client, "unknown", for the
// per-address limits: an unknown peer fails closed, never into "no limit".
func WithTrustedUnixSocket() Option { return func(o *options) { o.trustUnix = true } }

// WithMaxBodyBytes limits request bodies to n bytes; a larger body gets 413.
// Default (and with n 0) DefaultMaxBodyBytes; a negative n is an error of
// New.
func WithMaxBodyBytes(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithLogger sets where the Handler logs failures it answers with 5xx,
// with their causes; store_unavailable only at debug level, since the
// Authenticator logs a store outage once rather than once per request.
// Default: its warnings and errors go to slog.Default() (as it is when New
// runs), as in phoneauth.Config.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// DefaultUnavailableRetryAfter is the default Retry-After of a 503
// (WithUnavailableRetryAfter).
const DefaultUnavailableRetryAfter = 5 * time.Second

// WithUnavailableRetryAfter sets the Retry-After of a 503 (store_unavailable,
// captcha_unavailable), rounded up to whole seconds. Default
// DefaultUnavailableRetryAfter, 5 seconds: long enough that clients do not
// pile their retries onto a store that is coming back, short enough that a
// blip costs a user only a few seconds. A failed request has not happened
// (see phoneauth.Authenticator), so the retry is safe.
func WithUnavailableRetryAfter(d time.Duration) Option {
	return func(o *options) { o.unavailable = d }
}

// A Handler serves the phoneauth routes. Create it with New; it is safe for
// concurrent use. A zero or nil Handler answers every request with a JSON
// 500 and logs that New did not make it.
type Handler struct {
	auth    *phoneauth.Authenticator
	routes  []route
	mux     *http.ServeMux // the routes plus a JSON 404, for ServeHTTP
	proxies []netip.Prefix
	// trustUnix makes a Unix-socket peer a trusted proxy.
	trustUnix bool
	maxBody   int64
	log       *slog.Logger
	clock     phoneauth.Clock
	messages  map[string]string // overrides, by code or message key
	jwks      []byte

	unavailableRetry time.Duration // Retry-After of a 503
	jwksETag         string
	openAPI          []byte    // with the configured paths
	buffers          sync.Pool // of *bytes.Buffer, for bodies read and written
}

// A route is one mounted endpoint.
type route struct {
	method  string
	path    string // as mounted
	pattern string // method + " " + path
	docPath string // the path in openapi.json (the default)
	style   style  // of its group: the shape of its errors
	handler http.HandlerFunc
}

// A routeGroup is a set of routes that answer in one style and may need a
// signed-in user.
type routeGroup struct {
	style    style
	signedIn bool // an access token is required (see authenticated)
}

// The route groups. The JWKS and OpenAPI documents answer their errors (a
// 405) in the envelope.
var (
	signInGroup   = routeGroup{style: styleEnvelope}
	phoneGroup    = routeGroup{style: styleBare, signedIn: true}
	documentGroup = routeGroup{style: styleEnvelope}
)

// A routeFunc serves a JSON route: it returns the response data of a
// success or the problem of a failure, and its group writes either in the
// group's style. w is for reading the body (see decode).
type routeFunc func(w http.ResponseWriter, r *http.Request) (any, *problem)

// handler turns fn into the handler of a route of group g.
func (h *Handler) handler(g routeGroup, fn routeFunc) http.HandlerFunc {
	serve := func(w http.ResponseWriter, r *http.Request) {
		defer h.recoverPanic(w, r, g.style)
		data, p := fn(w, r)
		if p != nil {
			h.writeError(w, r, g.style, p)
			return
		}
		h.writeSuccess(w, r, g.style, data)
	}
	if g.signedIn {
		return h.authenticated(g.style, true, serve) // routes that change the account: a live session
	}
	return serve
}

// New returns a Handler serving auth's routes. It returns an error
// matching phoneauth.ErrInvalidConfig for a nil auth, one that
// phoneauth.New did not make, a nil Option or an invalid option: a prefix
// or path that is not absolute or ends in "/", an unparsable proxy, an
// unknown message key, a negative limit, or routes that collide.
func New(auth *phoneauth.Authenticator, opts ...Option) (*Handler, error) {
	h, err := newHandler(auth, opts)
	if err != nil && !errors.Is(err, phoneauth.ErrInvalidConfig) {
		err = fmt.Errorf("%w: %w", phoneauth.ErrInvalidConfig, err)
	}
	return h, err
}

// newHandler is New, without the sentinel on its errors.
func newHandler(auth *phoneauth.Authenticator, opts []Option) (*Handler, error) {
	if auth == nil {
		return nil, errors.New("httpadapter: nil Authenticator")
	}
	// An Authenticator that phoneauth.New did not make says so on every
	// call, without reaching its store.
	if _, err := auth.ValidateAccessToken(context.Background(), ""); errors.Is(err, phoneauth.ErrInvalidConfig) {
		return nil, fmt.Errorf("httpadapter: %w", err)
	}
	o := options{
		prefix:      DefaultPrefix,
		phonePrefix: DefaultPhoneVerificationPrefix,
		jwksPath:    DefaultJWKSPath,
		routes:      AllRoutes,
		maxBody:     DefaultMaxBodyBytes,
		unavailable: DefaultUnavailableRetryAfter,
	}
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("httpadapter: nil Option (option %d)", i+1)
		}
		opt(&o)
	}
	h := &Handler{
		auth:      auth,
		maxBody:   o.maxBody,
		log:       o.logger,
		clock:     auth.Clock(), // the envelope's "timestamp"
		messages:  o.messages,
		trustUnix: o.trustUnix,

		unavailableRetry: o.unavailable,
	}
	if h.unavailableRetry <= 0 {
		return nil, fmt.Errorf("httpadapter: Retry-After of a 503 must be positive, got %s", h.unavailableRetry)
	}
	if h.log == nil {
		h.log = warnlog.Default()
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.maxBody < 0 {
		return nil, fmt.Errorf("httpadapter: negative body limit %d", h.maxBody)
	}
	for k := range o.messages {
		if !knownMessageKey(k) {
			return nil, fmt.Errorf("httpadapter: unknown message key %q", k)
		}
	}
	for _, s := range o.proxies {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("httpadapter: trusted proxy: %w", err)
		}
		h.proxies = append(h.proxies, p)
	}
	if err := h.buildRoutes(o); err != nil {
		return nil, err
	}
	return h, nil
}

// buildRoutes fills h.routes and h.mux from o.
func (h *Handler) buildRoutes(o options) error {
	// add mounts a route at prefix+suffix; docPrefix+suffix is its path in
	// the OpenAPI document.
	add := func(g routeGroup, method, prefix, suffix, docPrefix string, fn http.HandlerFunc) {
		path := prefix + suffix
		h.routes = append(h.routes, route{method, path, method + " " + path, docPrefix + suffix, g.style, fn})
	}
	if o.routes&SignInRoutes != 0 {
		if err := checkPath("prefix", o.prefix); err != nil {
			return err
		}
		g, p, d := signInGroup, o.prefix, DefaultPrefix
		add(g, http.MethodPost, p, "/otp/request", d, h.handler(g, h.serveRequest))
		add(g, http.MethodPost, p, "/otp/verify", d, h.handler(g, h.serveVerify))
		add(g, http.MethodPost, p, "/otp/resend", d, h.handler(g, h.serveResend))
		add(g, http.MethodPost, p, "/token/refresh", d, h.handler(g, h.serveRefresh))
		add(g, http.MethodPost, p, "/logout", d, h.handler(g, h.serveLogout))
	}
	if o.routes&PhoneVerificationRoutes != 0 {
		if err := checkPath("phone-verification prefix", o.phonePrefix); err != nil {
			return err
		}
		g, p, d := phoneGroup, o.phonePrefix, DefaultPhoneVerificationPrefix
		add(g, http.MethodPost, p, "/otp/register", d, h.handler(g, h.servePhoneRegister))
		add(g, http.MethodPost, p, "/otp/verify", d, h.handler(g, h.servePhoneVerify))
		add(g, http.MethodPost, p, "/otp/resend", d, h.handler(g, h.servePhoneResend))
	}
	if o.routes&JWKSRoute != 0 {
		if err := checkPath("JWKS path", o.jwksPath); err != nil || o.jwksPath == "" {
			return fmt.Errorf("httpadapter: invalid JWKS path %q", o.jwksPath)
		}
		h.jwks = h.auth.JWKS()
		h.jwksETag = etag(h.jwks)
		add(documentGroup, http.MethodGet, o.jwksPath, "", DefaultJWKSPath, h.serveJWKS)
	}
	if o.openAPIPath != "" {
		if err := checkPath("OpenAPI path", o.openAPIPath); err != nil {
			return err
		}
		add(documentGroup, http.MethodGet, o.openAPIPath, "", openAPIDocPath, h.serveOpenAPI)
	}
	doc, err := h.renderOpenAPI()
	if err != nil {
		return err
	}
	h.openAPI = doc

	// Registering on a private mux first turns colliding paths into an
	// error instead of a panic in the caller's Register.
	mux := http.NewServeMux()
	if err := h.registerOn(mux); err != nil {
		return err
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, styleEnvelope, &problem{status: http.StatusNotFound, code: CodeNotFound, detail: "No route " + r.URL.Path})
	})
	h.mux = mux
	return nil
}

// checkPath accepts "" (the root) or an absolute path without a trailing
// slash or pattern syntax.
func checkPath(what, p string) error {
	if p == "" {
		return nil
	}
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "{} \t\n") {
		return fmt.Errorf("httpadapter: invalid %s %q: want an absolute path like /auth, without a trailing slash", what, p)
	}
	return nil
}

// Register adds the Handler's routes to mux: for each route a method pattern
// ("POST /auth/otp/request") and, on the same path, a pattern without a
// method that answers other methods with a JSON 405 and Allow. Like
// ServeMux.Handle, it panics if a pattern collides with one already
// registered on mux, and also if New did not make h.
func (h *Handler) Register(mux *http.ServeMux) {
	if !h.made() {
		panic(errNotMadeByNew) // registering nothing would leave every route a 404
	}
	if err := h.registerOn(mux); err != nil {
		panic(err)
	}
}

// registerOn registers the routes on mux, turning ServeMux's panic on a
// collision into an error.
func (h *Handler) registerOn(mux *http.ServeMux) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("httpadapter: %v", v)
		}
	}()
	allow := make(map[string][]string)
	styles := make(map[string]style)
	var paths []string
	for _, rt := range h.routes {
		if _, ok := allow[rt.path]; !ok {
			paths = append(paths, rt.path)
			styles[rt.path] = rt.style
		}
		allow[rt.path] = append(allow[rt.path], rt.method)
		if rt.method == http.MethodGet {
			allow[rt.path] = append(allow[rt.path], http.MethodHead)
		}
		mux.Handle(rt.pattern, rt.handler)
	}
	for _, p := range paths {
		mux.Handle(p, h.methodNotAllowed(strings.Join(allow[p], ", "), styles[p]))
	}
	return nil
}

// ServeHTTP serves the Handler's routes, by the request's full URL path,
// and a JSON 404 for other paths.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.made() {
		serveNotMadeByNew(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// errNotMadeByNew is what a Handler that New did not make (a zero or nil
// one) logs, answering every request 500, and what Register panics with.
var errNotMadeByNew = errors.New("httpadapter: the Handler was not made by New")

// made reports whether New made h.
func (h *Handler) made() bool { return h != nil && h.auth != nil }

// serveNotMadeByNew is every route of a Handler that New did not make: a
// JSON 500, logged to slog.Default.
func serveNotMadeByNew(w http.ResponseWriter, r *http.Request) {
	fallback := &Handler{log: warnlog.Default(), clock: phoneauth.SystemClock{}}
	fallback.writeError(w, r, styleEnvelope, &problem{status: http.StatusInternalServerError, code: CodeInternal, cause: errNotMadeByNew})
}

// Routes returns the mounted routes as ServeMux patterns, such as
// "POST /auth/otp/request", in a stable order.
func (h *Handler) Routes() []string {
	out := make([]string, len(h.routes))
	for i, rt := range h.routes {
		out[i] = rt.pattern
	}
	return out
}

// methodNotAllowed answers 405 with Allow.
func (h *Handler) methodNotAllowed(allow string, st style) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		h.writeError(w, r, st, &problem{
			status: http.StatusMethodNotAllowed,
			code:   CodeMethodNotAllowed,
			detail: "Method " + r.Method + " not allowed; use " + allow,
		})
	}
}
