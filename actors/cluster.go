package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
)

// ClusterConfig makes a registry a member of a Proto.Actor cluster.
type ClusterConfig struct {
	// Name: members with the same name form one cluster.
	Name string
	// Host and Port are where this member's actor remote listens, and what
	// it advertises to the others (port 0: any free port).
	Host string
	Port int
	// Provider is how members find each other (automanaged, etcd, k8s, or
	// the in-process test provider).
	Provider cluster.ClusterProvider
	// Fenced is called once when this member finds itself dropped from the
	// cluster: the others have blocked it for good, so it must stop serving
	// (the registrar exits, to be restarted with a new member id).
	Fenced func(error)
}

// joinCluster starts the remote and the cluster member, with the shards as
// the cluster's only kind.
func joinCluster(system *actor.ActorSystem, cfg ClusterConfig, d *deps, logger *slog.Logger) (*cluster.Cluster, *clusterPlacement, error) {
	if cfg.Provider == nil || cfg.Name == "" {
		return nil, nil, errors.New("actors: a cluster needs a name and a provider")
	}
	kind := cluster.NewKind(shardKind, shardProps(d, -1, actor.WithReceiverMiddleware(keepShardAlive(d))))
	c := cluster.New(system, cluster.Configure(cfg.Name, cfg.Provider, disthash.New(),
		remote.Configure(cfg.Host, cfg.Port), cluster.WithKinds(kind)))
	p := newClusterPlacement(c, d.shards, logger, d.stats, cfg.Fenced)
	d.placement = p // before any shard can start
	if err := startMember(c); err != nil {
		return nil, nil, err
	}
	probe, err := startMembershipProbe(c, p)
	if err != nil {
		c.Shutdown(false)
		return nil, nil, fmt.Errorf("actors: membership probe: %w", err)
	}
	p.probe = probe
	logger.Info("joined the cluster", "cluster", cfg.Name, "address", system.Address(), "member_id", system.ID)
	return c, p, nil
}

// keepShardAlive drops the PoisonPill that disthash's placement actor sends
// a shard when the topology gives it to another member: a stopping actor
// drops what is queued behind its PoisonPill, and those commands would be
// lost (their callers waiting their whole time for a 503). The shard stays
// and answers REASON_MOVED (nothing done: the caller resends to the owner)
// for as long as it does not own its index, and serves again if the index
// comes back; at most ACTOR_SHARDS of them per member. The PoisonPill of a
// member that leaves goes through.
func keepShardAlive(d *deps) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if _, ok := env.Message.(*actor.PoisonPill); ok {
				if cp, ok := d.placement.(*clusterPlacement); ok && !cp.draining.Load() {
					return
				}
			}
			next(c, env)
		}
	}
}

// startMember turns the panics of cluster.StartMember (a port in use, a
// provider that cannot register) into an error.
func startMember(c *cluster.Cluster) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("actors: join the cluster: %v", p)
		}
	}()
	c.StartMember()
	return nil
}

// leaveCluster leaves gracefully (the provider deregisters this member, its
// shards stop and their actors with them), within ctx.
func leaveCluster(ctx context.Context, c *cluster.Cluster, p *clusterPlacement) error {
	p.probe.stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Shutdown(true)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("leave the cluster: %w", ctx.Err())
	}
}
