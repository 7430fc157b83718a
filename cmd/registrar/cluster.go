package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/internal/config"
)

// Cluster is how registrars find each other to form one Proto.Actor
// cluster (docs/OPERATIONS.md "A cluster of registrars").
type Cluster struct {
	Provider      string   `env:"CLUSTER_PROVIDER"`
	Name          string   `env:"CLUSTER_NAME" envDefault:"registrar"`
	Addr          string   `env:"CLUSTER_ADDR" envDefault:"127.0.0.1:0"`
	DiscoveryPort int      `env:"CLUSTER_DISCOVERY_PORT"`
	Peers         []string `env:"CLUSTER_PEERS" envSeparator:","`
	EtcdEndpoints []string `env:"ETCD_ENDPOINTS" envSeparator:","`

	host string
	port int
}

// Enabled reports whether this registrar joins a cluster.
func (c Cluster) Enabled() bool { return c.Provider != "" }

// Validate checks the settings; postgres tells whether the database is
// shared (a cluster needs it).
func (c *Cluster) Validate(errs *config.Errors, postgres bool) {
	switch c.Provider {
	case "":
		return
	case "automanaged", "etcd":
	default:
		errs.Add("CLUSTER_PROVIDER", "must be empty (one process), automanaged or etcd, got %q", c.Provider)
		return
	}
	if !postgres {
		errs.Add("CLUSTER_PROVIDER", "a cluster needs a database its members share: set DATABASE_URL to postgres://..., not sqlite:")
	}
	if c.Name == "" {
		errs.Add("CLUSTER_NAME", "must not be empty")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	p, perr := strconv.Atoi(port)
	switch {
	case err != nil || perr != nil || p < 0 || p > 65535:
		errs.Add("CLUSTER_ADDR", "must be host:port (port 0 for any free one), got %q", c.Addr)
	case host == "":
		errs.Add("CLUSTER_ADDR", "needs a host the other members can reach: it is advertised to them")
	default:
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
			errs.Add("CLUSTER_ADDR", "%s is advertised to the other members: give an address they can reach, not %s", c.Addr, host)
		}
		c.host, c.port = host, p
	}
	switch c.Provider {
	case "automanaged":
		if c.DiscoveryPort < 1 || c.DiscoveryPort > 65535 {
			errs.Add("CLUSTER_DISCOVERY_PORT", "automanaged needs this member's discovery port (1..65535), got %d", c.DiscoveryPort)
		}
		if len(c.Peers) == 0 {
			errs.Add("CLUSTER_PEERS", "automanaged needs host:port of every member's discovery endpoint, this one's included")
		}
		self := false
		for _, peer := range c.Peers {
			h, p, err := net.SplitHostPort(strings.TrimSpace(peer))
			if err != nil || h == "" || p == "" {
				errs.Add("CLUSTER_PEERS", "%q is not host:port", peer)
				continue
			}
			self = self || p == strconv.Itoa(c.DiscoveryPort)
		}
		if len(c.Peers) > 0 && c.DiscoveryPort > 0 && !self {
			errs.Add("CLUSTER_PEERS", "must list this member's own discovery endpoint too (port %d): it finds itself in the topology that way", c.DiscoveryPort)
		}
	case "etcd":
		if len(c.EtcdEndpoints) == 0 {
			errs.Add("ETCD_ENDPOINTS", "etcd needs the comma-separated client URLs of the etcd cluster")
		}
		for _, e := range c.EtcdEndpoints {
			if u, err := url.Parse(strings.TrimSpace(e)); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs.Add("ETCD_ENDPOINTS", "%q is not a URL such as http://127.0.0.1:2379", e)
			}
		}
	}
}

// automanagedPoll is how often an automanaged member polls its peers: a
// dead member leaves the topology within about one poll.
const automanagedPoll = time.Second

// etcdLeaseTTL is the lease of a member's key in etcd: a dead member leaves
// the topology when it runs out.
const etcdLeaseTTL = 3 * time.Second

// config builds the actors' cluster configuration and its provider.
func (c Cluster) config(fenced func(error)) (*actors.ClusterConfig, error) {
	var provider cluster.ClusterProvider
	switch c.Provider {
	case "automanaged":
		peers := make([]string, len(c.Peers))
		for i, p := range c.Peers {
			peers[i] = strings.TrimSpace(p)
		}
		provider = automanaged.NewWithConfig(automanagedPoll, c.DiscoveryPort, peers...)
	case "etcd":
		endpoints := make([]string, len(c.EtcdEndpoints))
		for i, e := range c.EtcdEndpoints {
			endpoints[i] = strings.TrimSpace(e)
		}
		p, err := etcd.NewWithConfig("/"+c.Name, clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second},
			etcd.WithKeepAliveTTL(etcdLeaseTTL))
		if err != nil {
			return nil, fmt.Errorf("etcd cluster provider: %w", err)
		}
		provider = p
	default:
		return nil, nil
	}
	return &actors.ClusterConfig{Name: c.Name, Host: c.host, Port: c.port, Provider: provider, Fenced: fenced}, nil
}
