package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
)

// server starts a phoneauth server with default limits.
func server(t *testing.T, dev bool) string {
	t.Helper()
	key, err := phoneauth.GenerateEd25519Key("k")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := phoneauth.NewKeySet(key)
	auth, err := phoneauth.New(phoneauth.Config{
		Store:       phoneauth.NewMemoryStore(),
		Sender:      phoneauth.LogSender{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		Secret:      []byte("a test secret: 32 bytes or more, of many different bytes"),
		Tokens:      phoneauth.TokenConfig{Keys: keys},
		Development: dev,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpadapter.New(auth)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestLoadgen runs more flows than the per-IP limit allows one address,
// so they only succeed from many source addresses.
func TestLoadgen(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", server(t, true), "-c", "4", "-n", "60", "-flows-per-addr", "5"}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "flows: 60 ok, 0 failed") {
		t.Errorf("report:\n%s", out.String())
	}
	if !regexp.MustCompile(`request\s+60\s`).MatchString(out.String()) {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestLoadgenNeedsDevelopmentMode(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", server(t, false), "-c", "2", "-n", "4"}, &out)
	if err == nil || !strings.Contains(err.Error(), "development mode") {
		t.Errorf("err %v", err)
	}
}

func TestPhonesAreValidAndDistinct(t *testing.T) {
	g := &generator{phoneBase: 299_999_990}
	seen := map[string]bool{}
	for k := range uint64(100) {
		p := g.phone(k)
		if _, err := phoneauth.ParsePhone(p, ""); err != nil || seen[p] {
			t.Fatalf("phone %d %q: %v (seen %v)", k, p, err, seen[p])
		}
		seen[p] = true
	}
	addrs := map[string]bool{}
	for range 1000 {
		a := g.sourceAddr()
		if !a.IsLoopback() || a[15] == 0 || a[15] == 255 || addrs[a.String()] {
			t.Fatalf("address %v", a)
		}
		addrs[a.String()] = true
	}
}

// TestLoadgenRefresh refreshes each flow's tokens three times, each with the
// newest token: a stale one would be refused as reused.
func TestLoadgenRefresh(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", server(t, true), "-c", "2", "-n", "10", "-refresh", "3"}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"flows: 10 ok, 0 failed", "refreshes: 30 ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if !regexp.MustCompile(`refresh\s+30\s`).MatchString(out.String()) {
		t.Errorf("report:\n%s", out.String())
	}
}
