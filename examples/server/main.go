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
//	                   postgres://user:pass@host:port/db[?schema=S]: a store shared by replicas
//	-trusted-proxies   comma-separated CIDRs or addresses whose X-Forwarded-For is believed
//	-key               PEM file with a PKCS#8 private key (Ed25519, P-256 or RSA) that signs access tokens;
//	                   default: an Ed25519 key generated at start
//	-cpuprofile        file to write a CPU profile of the whole run to, for go tool pprof
//	-global-limit      codes sent per hour by all clients together (0: the library's default, 1000;
//	                   -1: no global budget, for load tests)
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
// The code secret comes from PHONEAUTH_SECRET (at least 32 bytes, hex or
// base64); without it a random one is generated, and pending codes die with
// the process. SIGINT or SIGTERM shut the server down gracefully.
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
	"syscall"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/examples/web"
	"github.com/phoneauth/phoneauth/httpadapter"
	"github.com/phoneauth/phoneauth/otelphoneauth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
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
	store := fs.String("store", "memory", "store: memory, redis://host:port/db[?prefix=P] or postgres://user:pass@host:port/db[?schema=S] (shared by replicas: store, users and limits)")
	proxies := fs.String("trusted-proxies", "", "comma-separated CIDRs or addresses of trusted proxies")
	keyFile := fs.String("key", "", "PEM file with a PKCS#8 signing key (default: generate an Ed25519 key)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	globalLimit := fs.Int("global-limit", 0, "codes sent per hour by all clients together (0: the default, 1000; -1: none, for load tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}

	b, err := openBackend(ctx, *store, log)
	if err != nil {
		return err
	}
	defer b.close()
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
	}
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
	return serve(ctx, *addr, routes(h, metricsHandler), log)
}

// routes mounts the API and the metrics on a new mux.
func routes(h *httpadapter.Handler, metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	h.Register(mux)
	mux.Handle("GET /metrics", metrics)
	// The sign-in page and its assets; the API's more specific patterns win.
	mux.Handle("/", web.Handler())
	return mux
}

// serve serves handler on addr until ctx is done, then shuts down,
// letting requests in flight finish for up to 10 seconds.
func serve(ctx context.Context, addr string, handler http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("phoneauth server listening", "addr", "http://"+ln.Addr().String(), "openapi", "/openapi.json")

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
