package httpadapter

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the address of the client that sent r, as the limits see
// it. It is the TCP peer (r.RemoteAddr), unless the peer is a trusted proxy
// (WithTrustedProxies): then it is the rightmost X-Forwarded-For address
// that is not itself a trusted proxy, since each trusted hop appended the
// address it saw and anything further left may be the client's invention.
// If every listed address is trusted, it is the leftmost; if the header is
// missing or an entry does not parse, it is the last trusted hop before
// it. A Unix-socket peer (RemoteAddr "", "@" or a path) is a trusted proxy
// with WithTrustedUnixSocket. IPv4-mapped IPv6 addresses are unmapped and
// zones dropped. The zero Addr means that no address could be read: the
// limits then count the request as the shared client "unknown".
func (h *Handler) ClientIP(r *http.Request) netip.Addr {
	client, ok := parseAddr(r.RemoteAddr)
	trustedPeer := ok && h.trusted(client) || !ok && h.trustUnix && isUnixPeer(r.RemoteAddr)
	if !trustedPeer {
		return client
	}
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for rest != "" {
			var part string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				part, rest = rest[j+1:], rest[:j]
			} else {
				part, rest = rest, ""
			}
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			a, ok := parseAddr(part)
			if !ok {
				return client
			}
			client = a
			if !h.trusted(a) {
				return a
			}
		}
	}
	return client
}

// unknownClient is the address given to the Authenticator for a client
// whose address could not be read: not an address, so it counts in the
// Authenticator's one shared "unknown" bucket.
const unknownClient = "unknown"

// clientIP is ClientIP as the string the Authenticator takes.
func (h *Handler) clientIP(r *http.Request) string {
	a := h.ClientIP(r)
	if !a.IsValid() {
		return unknownClient
	}
	return a.String()
}

// isUnixPeer reports whether a RemoteAddr is that of a Unix-socket peer:
// net/http reports "@" or "" for an unnamed socket, a path for a named one.
func isUnixPeer(remote string) bool {
	return remote == "" || remote[0] == '@' || remote[0] == '/'
}

// trusted reports whether a is a trusted proxy.
func (h *Handler) trusted(a netip.Addr) bool {
	for _, p := range h.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr parses "1.2.3.4", "1.2.3.4:5678", "2001:db8::1" or
// "[2001:db8::1]:5678", unmapped and without zone.
func parseAddr(s string) (netip.Addr, bool) {
	// With a port (as in every RemoteAddr) it is "[v6]:port" or
	// "v4:port": trying that first spares ParseAddr's error.
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		ap, err := netip.ParseAddrPort(s)
		return ap.Addr().Unmap().WithZone(""), err == nil
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap().WithZone(""), err == nil
}

// parsePrefix parses a CIDR prefix or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix or an address", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix or an address", s)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}
