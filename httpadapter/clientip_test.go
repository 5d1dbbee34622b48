package httpadapter_test

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/phoneauth/phoneauth/httpadapter"
)

func TestClientIP(t *testing.T) {
	f := newFixture(t, nil)
	h, err := httpadapter.New(f.auth, httpadapter.WithTrustedProxies("10.0.0.0/8", "2001:db8:aaaa::/48", "192.0.2.7"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"untrusted peer, header ignored", "203.0.113.9:4711", []string{"198.51.100.1"}, "203.0.113.9"},
		{"untrusted IPv6 peer", "[2001:db8::1]:4711", []string{"198.51.100.1"}, "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.9]:4711", nil, "203.0.113.9"},
		{"zone dropped", "[fe80::1%eth0]:4711", nil, "fe80::1"},
		{"trusted peer without header", "10.1.2.3:4711", nil, "10.1.2.3"},
		{"trusted peer, client", "10.1.2.3:4711", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed left part ignored", "10.1.2.3:4711", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops skipped", "10.1.2.3:4711", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9, 192.0.2.7"}, "198.51.100.1"},
		{"several headers", "10.1.2.3:4711", []string{"1.1.1.1", "198.51.100.1,10.9.9.9"}, "198.51.100.1"},
		{"several headers, right one empty", "10.1.2.3:4711", []string{"198.51.100.1", " , "}, "198.51.100.1"},
		{"all trusted: leftmost", "10.1.2.3:4711", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"garbage stops the walk", "10.1.2.3:4711", []string{"198.51.100.1, garbage, 10.0.0.5"}, "10.0.0.5"},
		{"garbage at the right", "10.1.2.3:4711", []string{"198.51.100.1, garbage"}, "10.1.2.3"},
		{"with ports", "10.1.2.3:4711", []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"IPv6 client", "[2001:db8:aaaa::1]:443", []string{"[2001:db8:bbbb::5]:1234"}, "2001:db8:bbbb::5"},
		{"unparsable peer", "somewhere", []string{"198.51.100.1"}, "invalid IP"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := h.ClientIP(r).String(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestSpoofedForwardedFor shows that a client cannot escape the per-IP
// limit (10 requests per 10 minutes) with X-Forwarded-For unless its peer
// is a trusted proxy.
func TestSpoofedForwardedFor(t *testing.T) {
	send := func(f *fixture, i int, remote, xff string) int {
		body := requestBody(pkPhone(100+i), fmt.Sprintf("device-%d", i))
		return f.do("POST", "/auth/otp/request", body, "RemoteAddr", remote, "X-Forwarded-For", xff).Code
	}

	// From an untrusted peer, a new X-Forwarded-For each time: limited.
	f := newFixture(t, nil)
	for i := range 10 {
		if code := send(f, i, "203.0.113.9:1234", fmt.Sprintf("198.51.100.%d", i)); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if code := send(f, 10, "203.0.113.9:1234", "198.51.100.99"); code != 429 {
		t.Errorf("spoofed header escaped the per-IP limit: %d", code)
	}

	// Through a trusted proxy, each forwarded client has its own limit...
	f = newFixture(t, nil, httpadapter.WithTrustedProxies("10.0.0.0/8"))
	for i := range 12 {
		if code := send(f, i, "10.0.0.1:1234", fmt.Sprintf("1.2.3.4, 198.51.100.%d", i)); code != 200 {
			t.Fatalf("forwarded client %d: %d", i, code)
		}
	}
	// ...and one client behind it is limited, whatever it writes to the left.
	for i := range 10 {
		send(f, 20+i, "10.0.0.1:1234", fmt.Sprintf("1.1.1.%d, 198.51.100.200", i))
	}
	if code := send(f, 30, "10.0.0.1:1234", "9.9.9.9, 198.51.100.200"); code != 429 {
		t.Errorf("forwarded client not limited: %d", code)
	}
}

// TestIPv6ClientsLimitedPer64: addresses of one /64 share the per-IP limit.
func TestIPv6ClientsLimitedPer64(t *testing.T) {
	f := newFixture(t, nil)
	for i := range 10 {
		remote := fmt.Sprintf("[2001:db8:1:2::%x]:1234", i+1)
		w := f.do("POST", "/auth/otp/request", requestBody(pkPhone(200+i), fmt.Sprintf("d%d", i)), "RemoteAddr", remote)
		if w.Code != 200 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := f.do("POST", "/auth/otp/request", requestBody(pkPhone(300), "d-new"), "RemoteAddr", "[2001:db8:1:2:ffff::1]:1234")
	wantError(t, w, 429, httpadapter.CodeRateLimited, "")
	w = f.do("POST", "/auth/otp/request", requestBody(pkPhone(301), "d-other"), "RemoteAddr", "[2001:db8:1:3::1]:1234")
	decodeEnvelope(t, w, 200) // another /64
}
