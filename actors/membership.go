package actors

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// A member that the others dropped from the topology (it stopped answering
// for a while: a long GC pause, a frozen VM, a partition) is blocked by them
// for good, but protoactor never tells it: its own view still holds them
// all, its open connections still carry its messages, and it goes on
// activating shards the others have taken over. So every member asks the
// others, every membershipProbe, whether they still count it; when for
// fenceAfter a majority of its topology (itself included, as a yes) says no,
// it fences itself and stops serving.

const (
	membershipActor = "registrar-membership"
	membershipProbe = 2 * time.Second
	fenceAfter      = 10 * time.Second
)

// membershipResponder answers MembershipQuery from the member's own view.
type membershipResponder struct {
	cluster   *cluster.Cluster
	placement *clusterPlacement
}

func (m *membershipResponder) Receive(ctx actor.Context) {
	if q, ok := ctx.Message().(*registrationv1.MembershipQuery); ok {
		id := q.GetMemberId()
		member := m.placement.has(id) && !m.cluster.Remote.BlockList().IsBlocked(id)
		ctx.Respond(&registrationv1.MembershipAnswer{Member: member})
	}
}

// membershipProbe runs until stop is called.
type membershipProber struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func startMembershipProbe(c *cluster.Cluster, p *clusterPlacement) (*membershipProber, error) {
	if _, err := c.ActorSystem.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &membershipResponder{cluster: c, placement: p}
	}), membershipActor); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &membershipProber{cancel: cancel}
	m.done.Go(func() {
		var outvotedSince time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(membershipProbe):
			}
			if !outvoted(c, p.memberID(), p.topology()) {
				outvotedSince = time.Time{}
				continue
			}
			if outvotedSince.IsZero() {
				outvotedSince = time.Now()
			}
			if time.Since(outvotedSince) >= fenceAfter {
				p.fenceSelf(errors.New("a majority of the cluster no longer counts this member (it was dropped and blocked)"))
				return
			}
		}
	})
	return m, nil
}

// outvoted asks the other members of this member's topology whether they
// count it: true when the noes are at least the yeses, its own included.
func outvoted(c *cluster.Cluster, self string, members []*cluster.Member) bool {
	if self == "" {
		return false
	}
	type vote struct{ yes, answered bool }
	votes := make(chan vote, len(members))
	n := 0
	for _, m := range members {
		if m.Id == self {
			continue
		}
		n++
		go func() {
			res, err := c.ActorSystem.Root.RequestFuture(actor.NewPID(m.Address(), membershipActor),
				&registrationv1.MembershipQuery{MemberId: self}, time.Second).Result()
			a, ok := res.(*registrationv1.MembershipAnswer)
			votes <- vote{yes: err == nil && ok && a.GetMember(), answered: err == nil && ok}
		}()
	}
	yes, no := 1, 0
	for range n {
		v := <-votes
		switch {
		case v.yes:
			yes++
		case v.answered:
			no++
		}
	}
	return no >= yes
}

func (m *membershipProber) stop() {
	m.cancel()
	m.done.Wait()
}
