// Package healthcheck lets a binary probe its own readiness endpoint, for
// container health checks in images that have no curl (`registrar
// healthcheck`, `mailer healthcheck`).
package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Probe asks http://addr/readyz (a wildcard host means this machine), with
// the checks named in exclude left out of the verdict, and returns nil for
// a 200.
func Probe(ctx context.Context, addr string, exclude ...string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: address %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/readyz"}
	if len(exclude) > 0 {
		u.RawQuery = url.Values{"exclude": exclude}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", u.RequestURI(), res.StatusCode)
	}
	return nil
}
