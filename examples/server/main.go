// Command server is a complete phoneauth server for development: the
// sign-in and phone-verification routes, JWKS and the OpenAPI document on
// 127.0.0.1:8080, with an in-memory store, a sender that logs codes instead
// of sending them, and development mode on (codes in responses).
//
//	go run ./examples/server                  # from the repository root
//	go run ./examples/server -addr :9000 -dev=false -key signing.pem
//
// Flags:
//
//	-addr              listen address (default 127.0.0.1:8080)
//	-dev               development mode: codes in responses and logs (default true); with
//	                   -dev=false the log sender withholds codes (messages are not sent:
//	                   plug in a real Sender)
//	-store             memory (default), redis://host:port/db[?prefix=P] or
//	                   postgres://user:pass@host:port/db[?schema=S]: a store shared by replicas;
//	                   sqlite:FILE: a store on one node that survives restarts
//	-trusted-proxies   comma-separated CIDRs or addresses whose X-Forwarded-For is believed
//	-key               PEM file with a PKCS#8 private key (Ed25519, P-256 or RSA) that signs access tokens;
//	                   default: an Ed25519 key generated at start
//	-cpuprofile        file to write a CPU profile of the whole run to, for go tool pprof
//	-webotp-domain     host the sign-in page is served from: messages end with the WebOTP
//	                   line "@host #code" and the page lets the browser read the code from the SMS
//	-request-timeout   deadline of each request, store calls included (default 5s)
//	-shutdown-timeout  on SIGINT or SIGTERM, how long until the process exits (default 10s)
//	-pool              PostgreSQL: connections in the pool (default 32; pool_max_conns in the URL wins)
//	-global-limit      codes sent per hour by all clients together (0: the library's default, 1000;
//	                   -1: no global budget, for load tests)
//	-signup            who verifying an unknown phone signs up: allowed (default: everyone, as
//	                   seeds 000/001 expect), create-user (only requests with createUser /
//	                   create_user true, which defaults to false, as in GoTrue, seed 002), or
//	                   disabled (existing users only)
//
// GET /metrics serves the library's metrics in Prometheus text (see the
// otelphoneauth module; docs/grafana-dashboard.json shows them). In
// production, serve them on an address only Prometheus reaches.
//
// In development mode the API documents' phone number +923012345678 is a test
// number with their code 249364, so that their cURL
// examples work as written: request a code, then verify "249364" (no
// message is logged for a test number).
//
// Several replicas behind a load balancer share one -store (redis://… or
// postgres://…: codes, sessions, users and limits live there) and must also
// share PHONEAUTH_SECRET and the -key file:
//
//	PHONEAUTH_SECRET=$(openssl rand -hex 32) server -store redis://127.0.0.1:6379/0 -key signing.pem
//
// A single server keeps its pending codes, sessions and users across
// restarts in a SQLite file, given the same PHONEAUTH_SECRET and -key:
//
//	PHONEAUTH_SECRET=$(cat secret) server -store sqlite:/var/lib/phoneauth/auth.db -key signing.pem
//
// The code secret comes from PHONEAUTH_SECRET (at least 32 bytes, hex or
// base64); without it a random one is generated, and pending codes die with
// the process.
//
// SIGINT or SIGTERM shut the server down within -shutdown-timeout, even
// when the store hangs: it stops accepting connections, lets requests in
// flight finish (each has its -request-timeout; a store that does not
// answer by then is answered 503), cancels those still running late in the
// shutdown (they are answered 503 too), closes the store's connections
// (without waiting past the deadline for a store that hangs) and exits 0.
// docs/operations.md describes the timeouts and the shutdown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/examples/web"
	"github.com/phoneauth/phoneauth/httpadapter"
	"github.com/phoneauth/phoneauth/otelphoneauth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	redis.SetLogger(redisLogger{log})
	if err := run(ctx, os.Args[1:], log); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run configures and serves until ctx is done.
func run(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dev := fs.Bool("dev", true, "development mode: codes in responses and logs")
	store := fs.String("store", "memory", "store: memory, redis://host:port/db[?prefix=P] or postgres://user:pass@host:port/db[?schema=S] (shared by replicas: store, users and limits), or sqlite:FILE (one node, survives restarts)")
	proxies := fs.String("trusted-proxies", "", "comma-separated CIDRs or addresses of trusted proxies")
	keyFile := fs.String("key", "", "PEM file with a PKCS#8 signing key (default: generate an Ed25519 key)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	webOTPDomain := fs.String("webotp-domain", "", "host the sign-in page is served from, for WebOTP (messages end with \"@host #code\")")
	var t timeouts
	fs.DurationVar(&t.request, "request-timeout", 5*time.Second, "deadline of each request, store calls included")
	fs.DurationVar(&t.shutdown, "shutdown-timeout", 10*time.Second, "on SIGINT or SIGTERM, how long until the process exits")
	pool := fs.Int("pool", defaultPoolSize, "PostgreSQL: connections in the pool (pool_max_conns in the URL wins)")
	globalLimit := fs.Int("global-limit", 0, "codes sent per hour by all clients together (0: the default, 1000; -1: none, for load tests)")
	signup := fs.String("signup", "allowed", "who verifying an unknown phone signs up: allowed (everyone), create-user (requests with createUser true only; it defaults to false) or disabled")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if t.request <= 0 || t.shutdown <= 0 || *pool <= 0 {
		return errors.New("-request-timeout, -shutdown-timeout and -pool must be positive")
	}
	signupPolicy, err := parseSignup(*signup)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}

	b, err := openBackend(ctx, *store, backendOptions{log: log, pool: *pool, timeout: t.request})
	if err != nil {
		return err
	}
	closer := &storeCloser{close: b.close}
	defer closer.wait(t.closeReserve(), log)
	keys, err := loadKeys(*keyFile, log)
	if err != nil {
		return err
	}
	secret, err := loadSecret(os.Getenv("PHONEAUTH_SECRET"), log)
	if err != nil {
		return err
	}
	if *dev {
		warnDevelopment()
	}
	metrics, metricsHandler, err := otelphoneauth.NewPrometheus()
	if err != nil {
		return err
	}
	cfg := phoneauth.Config{
		Events:      metrics.Observe,
		Store:       b.store,
		Users:       b.users,
		Limiter:     b.limiter,
		Sender:      phoneauth.LogSender{Logger: log, Development: *dev}, // codes in the log only with -dev
		Secret:      secret,
		Tokens:      phoneauth.TokenConfig{Keys: keys},
		Logger:      log,
		Development: *dev,
		Signup:      signupPolicy,
	}
	cfg.WebOTPDomain = *webOTPDomain
	if *dev {
		cfg.TestNumbers = seedTestNumbers(time.Now())
	}
	if *globalLimit != 0 {
		cfg.Limits.Global = phoneauth.Limit{Events: *globalLimit, Per: time.Hour}
	}
	auth, err := phoneauth.New(cfg)
	if err != nil {
		return err
	}
	h, err := httpadapter.New(auth,
		httpadapter.WithTrustedProxies(splitList(*proxies)...),
		httpadapter.WithLogger(log),
		httpadapter.WithOpenAPI("/openapi.json"),
	)
	if err != nil {
		return err
	}
	var pageOpts []web.Option
	if *webOTPDomain != "" {
		pageOpts = append(pageOpts, web.WithWebOTP(*webOTPDomain))
	}
	return serve(ctx, *addr, withDeadline(routes(h, metricsHandler, pageOpts...), t.request), t, closer.start, log, banner{dev: *dev, signup: *signup})
}

// routes mounts the API, the metrics and the sign-in page on a new mux.
func routes(h *httpadapter.Handler, metrics http.Handler, pageOpts ...web.Option) *http.ServeMux {
	mux := http.NewServeMux()
	h.Register(mux)
	mux.Handle("GET /metrics", metrics)
	// The sign-in page and its assets; the API's more specific patterns win,
	// and what neither serves gets the adapter's JSON 404.
	mux.Handle("/", web.Handler(append(pageOpts, web.WithFallback(h))...))
	return mux
}

// timeouts are the request deadline and the shutdown budget.
type timeouts struct {
	request  time.Duration // each request's deadline
	shutdown time.Duration // from the signal to the exit
}

// closeReserve is the part of the shutdown budget kept for closing the
// store's connections, after the HTTP server is done.
func (t timeouts) closeReserve() time.Duration { return min(2*time.Second, t.shutdown/4) }

// withDeadline gives each request a deadline d (its context's), so that
// store calls that do not answer end, and are answered 503, by then.
func withDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// serve serves handler on addr until ctx is done, then shuts down within
// t.shutdown minus t.closeReserve(): it stops accepting and lets requests
// in flight finish; at four fifths of that time it cancels the contexts
// of those still running and starts closing the store (closeStore), so
// that their store calls fail and they are answered 503 (go-redis ends a
// call at its context's deadline or when its connection closes, not when
// its context is cancelled), and at the end it closes the connections of
// any request that still runs (a handler that ignores its context).
//
// The write timeout is the request deadline plus five seconds, so that a
// request answered at its deadline still has its answer written. Once it
// listens it logs where, and prints the banner.
func serve(ctx context.Context, addr string, handler http.Handler, t timeouts, closeStore func(), log *slog.Logger, b banner) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	requests, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      t.request + 5*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return requests },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	log.Info("phoneauth server listening", append([]any{"addr", base}, b.attrs(base)...)...)
	fmt.Fprint(os.Stderr, b.text(base))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	budget := t.shutdown - t.closeReserve()
	log.Info("shutting down", "timeout", t.shutdown)
	start := time.Now()
	drain, cancel := context.WithTimeout(context.Background(), budget*4/5)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil {
		log.Warn("shutdown: requests still running; cancelling them", "after", time.Since(start).Round(time.Millisecond))
		cancelRequests()
		closeStore()
		last, cancel := context.WithTimeout(context.Background(), budget-time.Since(start))
		defer cancel()
		if err := srv.Shutdown(last); err != nil {
			log.Error("shutdown: requests that ignore cancellation cut off", "error", err)
			srv.Close()
		}
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("HTTP server stopped", "after", time.Since(start).Round(time.Millisecond))
	return nil
}

// A storeCloser closes the store's connections once, in the background, so
// that a store that hangs cannot hold up the exit.
type storeCloser struct {
	once  sync.Once
	done  chan struct{}
	close func()
}

// start starts closing the store, once.
func (c *storeCloser) start() {
	c.once.Do(func() {
		c.done = make(chan struct{})
		go func() {
			defer close(c.done)
			c.close()
		}()
	})
}

// wait starts closing the store if need be, and waits for it at most d.
func (c *storeCloser) wait(d time.Duration, log *slog.Logger) {
	c.start()
	select {
	case <-c.done:
	case <-time.After(d):
		log.Warn("store connections not closed in time; exiting anyway", "waited", d)
	}
}
