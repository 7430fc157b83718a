package actors

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
)

// Emails are spread over a fixed number of shards (a hash of the email),
// and a shard owns the actors of its emails. Where a shard lives is the
// placement's business: in one process, every shard is a local actor; in a
// cluster, each shard is a virtual actor (a grain of kind shardKind, identity
// its index) that the cluster's disthash identity lookup places on one
// member, and moves when members come and go. Either way the email's actor
// is a child of its shard, on the shard's member: one actor per email across
// the fleet, whose memory, timer and mailbox are the email's.

// shardKind is the cluster kind of the shards.
const shardKind = "registration-shard"

// shardOf is the shard of a normalized email.
func shardOf(email string, shards int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(email))
	return int(h.Sum32() % uint32(shards))
}

// placement finds the shards.
type placement interface {
	// pid returns where shard lives now, waiting at most timeout to find
	// out (an activation in a cluster).
	pid(shard int, timeout time.Duration) (*actor.PID, error)
	// forget drops what pid said of shard, after pid answered that it is
	// gone or does not own the shard any more.
	forget(shard int, pid *actor.PID)
	// owns reports whether this member owns shard now.
	owns(shard int) bool
	// members is the number of members in the cluster (1 in one process).
	members() int
}

// localPlacement is one process: every shard is a named local actor.
type localPlacement struct{ shards []*actor.PID }

func (l *localPlacement) pid(shard int, _ time.Duration) (*actor.PID, error) {
	return l.shards[shard], nil
}
func (l *localPlacement) forget(int, *actor.PID) {}
func (l *localPlacement) owns(int) bool          { return true }
func (l *localPlacement) members() int           { return 1 }

// errNoOwner: the cluster knows no member that can own the shard now.
var errNoOwner = errors.New("no cluster member owns the shard")

// clusterPlacement places the shards as grains of a Proto.Actor cluster.
//
// It resolves a shard itself instead of calling cluster.Get: disthash's own
// lookup waits a hard-coded 5 s for an activation while holding the lock
// that topology updates need, so one dead member stalls every lookup and
// the topology change that would route around it. Here the owner is read
// from a rendezvous hash of this member's own view of the topology (the
// same hash disthash places with), the activation request goes to the
// owner's disthash placement actor with the caller's time as its bound, and
// the answer is cached per shard until the topology changes or the PID
// turns out dead.
type clusterPlacement struct {
	cluster *cluster.Cluster
	logger  *slog.Logger
	stats   *stats
	fenced  func(error)

	mu       sync.RWMutex
	rdv      *cluster.Rendezvous
	count    int
	cache    map[int]*actor.PID
	selfSeen bool // this member has been in a topology

	fence atomic.Bool
}

func newClusterPlacement(c *cluster.Cluster, logger *slog.Logger, st *stats, fenced func(error)) *clusterPlacement {
	p := &clusterPlacement{
		cluster: c, logger: logger, stats: st, fenced: fenced,
		rdv: cluster.NewRendezvous(), cache: map[int]*actor.PID{},
	}
	c.ActorSystem.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			p.onTopology(t)
		}
	})
	return p
}

func shardIdentity(shard int) *cluster.ClusterIdentity {
	return cluster.NewClusterIdentity(strconv.Itoa(shard), shardKind)
}

func (p *clusterPlacement) onTopology(t *cluster.ClusterTopology) {
	selfID := p.cluster.ActorSystem.ID
	inTopology := slices.ContainsFunc(t.Members, func(m *cluster.Member) bool { return m.Id == selfID })
	p.mu.Lock()
	p.rdv.UpdateMembers(t.Members)
	p.count = len(t.Members)
	clear(p.cache)
	seen := p.selfSeen
	p.selfSeen = p.selfSeen || inTopology
	p.mu.Unlock()
	p.stats.members.Store(int64(len(t.Members)))
	// A member dropped from the topology is blocked for good (its id never
	// comes back): it must stop serving, not run as a zombie that activates
	// shards the others have taken over.
	switch {
	case seen && !inTopology:
		p.fenceSelf(errors.New("this member was dropped from the cluster topology"))
	case p.cluster.Remote != nil && p.cluster.Remote.BlockList().IsBlocked(selfID):
		p.fenceSelf(errors.New("this member is on the cluster's block list"))
	}
}

// fenceSelf stops this member from serving, once.
func (p *clusterPlacement) fenceSelf(err error) {
	if p.fence.Swap(true) {
		return
	}
	p.logger.Error("fencing this cluster member: it stops serving", "error", err)
	if p.fenced != nil {
		p.fenced(err)
	}
}

func (p *clusterPlacement) owner(shard int) string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.rdv.GetByClusterIdentity(shardIdentity(shard))
}

func (p *clusterPlacement) owns(shard int) bool {
	return !p.fence.Load() && p.owner(shard) == p.cluster.ActorSystem.Address()
}

func (p *clusterPlacement) members() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.count
}

func (p *clusterPlacement) pid(shard int, timeout time.Duration) (*actor.PID, error) {
	if p.fence.Load() {
		return nil, errors.New("this member is fenced")
	}
	p.mu.RLock()
	pid := p.cache[shard]
	p.mu.RUnlock()
	if pid != nil {
		return pid, nil
	}
	owner := p.owner(shard)
	if owner == "" {
		return nil, errNoOwner
	}
	activator := actor.NewPID(owner, disthash.PartitionActivatorActorName)
	req := &cluster.ActivationRequest{ClusterIdentity: shardIdentity(shard)}
	res, err := p.cluster.ActorSystem.Root.RequestFuture(activator, req, timeout).Result()
	if err != nil {
		return nil, fmt.Errorf("activate shard %d on %s: %w", shard, owner, err)
	}
	ar, ok := res.(*cluster.ActivationResponse)
	if !ok || ar.Failed || ar.Pid == nil {
		return nil, fmt.Errorf("activate shard %d on %s: refused", shard, owner)
	}
	p.mu.Lock()
	if p.owner0(shard) == owner { // the topology did not change meanwhile
		p.cache[shard] = ar.Pid
	}
	p.mu.Unlock()
	return ar.Pid, nil
}

// owner0 is owner without the lock (held by the caller).
func (p *clusterPlacement) owner0(shard int) string {
	return p.rdv.GetByClusterIdentity(shardIdentity(shard))
}

func (p *clusterPlacement) forget(shard int, pid *actor.PID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.cache[shard]; c != nil && c.Equal(pid) {
		delete(p.cache, shard)
	}
}
