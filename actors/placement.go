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
	// gone returns a channel closed once address is no longer a member
	// (nil: never), so that a caller waiting on a dead member's answer
	// stops waiting.
	gone(address string) <-chan struct{}
}

// localPlacement is one process: every shard is a named local actor.
type localPlacement struct{ shards []*actor.PID }

func (l *localPlacement) pid(shard int, _ time.Duration) (*actor.PID, error) {
	return l.shards[shard], nil
}
func (l *localPlacement) forget(int, *actor.PID)      {}
func (l *localPlacement) owns(int) bool               { return true }
func (l *localPlacement) members() int                { return 1 }
func (l *localPlacement) gone(string) <-chan struct{} { return nil }

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
	shards  int
	logger  *slog.Logger
	stats   *stats
	fenced  func(error)

	mu       sync.RWMutex
	rdv      *cluster.Rendezvous
	count    int
	cache    map[int]*actor.PID
	current  []*cluster.Member    // the topology's members
	ids      map[string]string    // member id by address, in the topology
	watched  map[string]*watch    // by address
	known    map[string]time.Time // every address seen in a topology, and when last
	selfSeen bool                 // this member has been in a topology
	selfID   string               // this member's id in the topology

	fence    atomic.Bool // dropped: this member serves no more
	draining atomic.Bool // leaving: its shards give up what they own
	suspect  atomic.Bool // outvoted lately: its shards own nothing meanwhile
	probe    *membershipProber
}

func newClusterPlacement(c *cluster.Cluster, shards int, logger *slog.Logger, st *stats, fenced func(error)) *clusterPlacement {
	p := &clusterPlacement{
		cluster: c, shards: shards, logger: logger, stats: st, fenced: fenced,
		rdv: cluster.NewRendezvous(), cache: map[int]*actor.PID{}, ids: map[string]string{},
		watched: map[string]*watch{}, known: map[string]time.Time{},
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
	// A member's id is the provider's (etcd's is "<cluster>@<system id>"):
	// this member finds itself by its address.
	self := p.cluster.ActorSystem.Address()
	i := slices.IndexFunc(t.Members, func(m *cluster.Member) bool { return m.Address() == self })
	inTopology := i >= 0
	p.mu.Lock()
	if inTopology {
		p.selfID = t.Members[i].Id
	}
	selfID := p.selfID
	p.rdv.UpdateMembers(t.Members)
	p.count = len(t.Members)
	clear(p.cache)
	p.current = slices.Clone(t.Members)
	clear(p.ids)
	now := time.Now()
	for _, m := range t.Members {
		p.ids[m.Address()] = m.Id
		p.known[m.Address()] = now
	}
	for addr, w := range p.watched {
		if p.ids[addr] != w.id { // gone, or another incarnation at the address
			close(w.ch)
			delete(p.watched, addr)
		}
	}
	seen := p.selfSeen
	p.selfSeen = p.selfSeen || inTopology
	p.mu.Unlock()
	// A member dropped from the topology is blocked for good (its id never
	// comes back): it must stop serving, not run as a zombie that activates
	// shards the others have taken over.
	switch {
	case seen && !inTopology:
		p.fenceSelf(errors.New("this member was dropped from the cluster topology"))
	case selfID != "" && p.cluster.Remote != nil && p.cluster.Remote.BlockList().IsBlocked(selfID):
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
	if p.fence.Load() || p.draining.Load() || p.suspect.Load() {
		return false
	}
	return p.owner(shard) == p.cluster.ActorSystem.Address()
}

// ready reports whether this member serves: it has seen itself in a
// topology and is neither fenced nor leaving.
func (p *clusterPlacement) ready() error {
	switch {
	case p.fence.Load():
		return errors.New("this cluster member was dropped from the cluster")
	case p.draining.Load():
		return errors.New("this cluster member is leaving")
	case p.memberID() == "":
		return errors.New("this cluster member has not joined the topology yet")
	}
	return nil
}

// memberID is this member's id in the topology ("" before it is in one).
func (p *clusterPlacement) memberID() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.selfID
}

// topology is this member's view of the members.
func (p *clusterPlacement) topology() []*cluster.Member {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.current
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
	res, err := awaitUnless(p.cluster.ActorSystem.Root.RequestFuture(activator, req, timeout), p.gone(owner))
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

// closed is a channel that is closed.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// watch is closed when the member incarnation id leaves the topology.
type watch struct {
	id string
	ch chan struct{}
}

func (p *clusterPlacement) gone(address string) <-chan struct{} {
	if address == p.cluster.ActorSystem.Address() {
		return nil // this member does not leave under its own callers
	}
	p.mu.RLock()
	w := p.watched[address]
	p.mu.RUnlock()
	if w != nil {
		return w.ch
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.ids[address]
	if !ok {
		return closed
	}
	if w = p.watched[address]; w == nil {
		w = &watch{id: id, ch: make(chan struct{})}
		p.watched[address] = w
	}
	return w.ch
}

// knownAddresses are the addresses of every member seen in a topology in
// the last knownFor, this one's excluded: the members to compare views
// with, even those this member's own view dropped.
func (p *clusterPlacement) knownAddresses() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	self := p.cluster.ActorSystem.Address()
	var out []string
	for addr, seen := range p.known {
		switch {
		case time.Since(seen) > knownFor:
			delete(p.known, addr)
		case addr != self:
			out = append(out, addr)
		}
	}
	return out
}

// knownFor is how long a member that left the topology is still asked for
// its view (a partition heals, a block is found out).
const knownFor = 10 * time.Minute

func (p *clusterPlacement) forget(shard int, pid *actor.PID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.cache[shard]; c != nil && c.Equal(pid) {
		delete(p.cache, shard)
	}
}
