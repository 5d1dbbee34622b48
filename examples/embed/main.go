// Command embed is an application that embeds phoneauth: its own mux and
// routes, the library's routes mounted beside them, a Sender, a route that
// only signed-in users reach, and a graceful shutdown.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:8081")
	if err != nil {
		log.Fatal(err)
	}
	if err := run(ctx, ln, smsGateway); err != nil {
		log.Fatal(err)
	}
}

// smsGateway stands for your SMS provider (phoneauth/twilio,
// phoneauth/webhook, or your own client). It must never log the code.
var smsGateway = phoneauth.SenderFunc(func(ctx context.Context, m phoneauth.Message) (string, error) {
	slog.InfoContext(ctx, "an SMS would go out here", "to", phoneauth.MaskPhone(m.To), "channel", m.Channel)
	return "provider-message-id", nil
})

// run serves the application on ln until ctx is done.
func run(ctx context.Context, ln net.Listener, sender phoneauth.Sender) error {
	// In production, load the secret and the signing key, the same on
	// every replica, and use a shared store (redisstore, pgstore).
	secret := make([]byte, 32)
	rand.Read(secret)
	key, err := phoneauth.GenerateEd25519Key("2026-12")
	if err != nil {
		return err
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		return err
	}
	auth, err := phoneauth.New(phoneauth.Config{
		Store:  phoneauth.NewMemoryStore(),
		Sender: sender,
		Secret: secret,
		Tokens: phoneauth.TokenConfig{Keys: keys, Issuer: "https://auth.example.com"},
	})
	if err != nil {
		return err
	}
	h, err := httpadapter.New(auth)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	h.Register(mux) // POST /auth/otp/request, /auth/otp/verify, … beside the app's own routes
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /api/me", h.RequireAuth(http.HandlerFunc(me)))

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	slog.Info("listening", "addr", "http://"+ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// me answers who the access token belongs to.
func me(w http.ResponseWriter, r *http.Request) {
	claims, _ := httpadapter.ClaimsFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"user": claims.Subject, "phone": claims.Phone})
}
