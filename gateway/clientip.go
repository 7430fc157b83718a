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
	for key, value := range c.Request().Header.All() { // in the order the lines came
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
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
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
func sourceFrom(ctx context.Context) string {
	ip, err := netip.ParseAddr(clientIPFrom(ctx))
	if err != nil {
		return ""
	}
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}
