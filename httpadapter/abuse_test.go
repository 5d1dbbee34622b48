package httpadapter_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
)

// A request whose peer has no address (a Unix socket) counts as the one
// shared client "unknown" unless WithTrustedUnixSocket trusts the socket's
// X-Forwarded-For: the per-address limits never switch off.
func TestUnixSocketPeerFailsClosed(t *testing.T) {
	const perIP = 10
	limits := func(c *phoneauth.Config) { c.Limits.PerIP = phoneauth.Limit{Events: perIP, Per: 10 * time.Minute} }
	request := func(f *fixture, i int, headers ...string) int {
		t.Helper()
		return f.do("POST", "/auth/otp/request", requestBody(pkPhone(i), fmt.Sprintf("dev-%d", i)), headers...).Code
	}
	for _, peer := range []string{"@", "", "/run/app.sock"} {
		f := newFixture(t, limits)
		for i := range perIP {
			if code := request(f, i, "RemoteAddr", peer, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1)); code != http.StatusOK {
				t.Fatalf("peer %q: request %d: status %d", peer, i, code)
			}
		}
		w := f.do("POST", "/auth/otp/request", requestBody(pkPhone(99), "dev-99"), "RemoteAddr", peer, "X-Forwarded-For", "198.51.100.200")
		wantError(t, w, http.StatusTooManyRequests, httpadapter.CodeRateLimited, "")
	}
	f := newFixture(t, limits, httpadapter.WithTrustedUnixSocket())
	for i := range perIP + 5 {
		if code := request(f, i, "RemoteAddr", "@", "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1)); code != http.StatusOK {
			t.Fatalf("trusted socket: request %d: status %d", i, code)
		}
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr = "@"
	r.Header.Set("X-Forwarded-For", "1.1.1.1, 198.51.100.9")
	if got := f.h.ClientIP(r); got.String() != "198.51.100.9" {
		t.Fatalf("ClientIP behind a trusted socket = %s", got)
	}
}
