package gateway

import (
	"context"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// clientIP is the peer address, unless the peer is a trusted proxy: then it
// is the right-most address of the proxy header that is not itself a trusted
// proxy, read across every line of the header. Each proxy appends what it
// saw (HAProxy's `option forwardfor` adds a line of its own, others extend
// the last one), so everything left of the nearest untrusted hop is the
// client's to forge.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, err := netip.ParseAddr(c.Context().RemoteIP().String())
	if err != nil {
		return c.Context().RemoteIP().String()
	}
	client := peer.Unmap()
	if s.cfg.ProxyHeader == "" || !s.trusted(client) {
		return client.String()
	}
	var hops []string
	// The header lines as they came, without trailers: a chunked body's
	// trailer is the client's to write and must not pass for a proxy's line.
	for key, value := range c.Request().Header.AllInOrder() {
		if strings.EqualFold(string(key), s.cfg.ProxyHeader) {
			hops = append(hops, strings.Split(string(value), ",")...)
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			break // garbage: the last trusted hop is all we know
		}
		client = hop
		if !s.trusted(client) {
			break
		}
	}
	return client.String()
}

func (s *Server) trusted(addr netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// parseHop reads one entry of a forwarding header: an address, or an
// address with a port as some proxies write it.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true // a zone is the sender's to choose
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

type clientIPKey struct{}

// clientIPFrom is the client IP of the request ctx belongs to.
func clientIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// sourceFrom is the client's network for the password throttle's known
// sources: the /24 of an IPv4 address, the /64 of an IPv6 one (what one
// household or office keeps while its exact address changes).
func sourceFrom(ctx context.Context) string { return network(clientIPFrom(ctx), 24) }

// limitKey is the per-IP limit's key: the address for IPv4, the /64 for
// IPv6, which one subscriber holds whole (an address per request from it
// would otherwise have a budget each).
func limitKey(ctx context.Context) string { return network(clientIPFrom(ctx), 32) }

// network is the prefix of ip: v4Bits long for IPv4, 64 for IPv6; ip itself
// when it is no address.
func network(ip string, v4Bits int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	bits := 64
	if a.Is4() {
		bits = v4Bits
	}
	if bits == a.BitLen() {
		return a.String()
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ip
	}
	return p.String()
}
