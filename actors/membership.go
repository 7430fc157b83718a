package actors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Protoactor blocks a member that left its topology for good (it stopped
// answering for a while: a long pause, a frozen VM, a partition) and never
// tells it: its own view still holds the others, its open connections still
// carry its messages, and it goes on activating shards the others have
// taken over. One member's block of another is never undone either, so a
// partition that heals, or one failed health check, leaves members whose
// views disagree for good. So every member asks every member it has seen,
// every membershipProbe, for its view (the members of its topology and its
// number of shards). When its own view is not the view most members hold
// (a tie goes to the larger view: blocks only ever shrink views), it stops
// owning shards at once, and if that lasts fenceAfter it fences itself and
// exits, to come back with a new id that nobody has blocked. Views agree
// again within a topology change's time, a second or two, in every healthy
// cluster; a member that hears from nobody keeps its own view.

const (
	membershipActor = "registrar-membership"
	membershipProbe = 2 * time.Second
	fenceAfter      = 10 * time.Second
)

// membershipResponder answers MembershipQuery with this member's view.
type membershipResponder struct{ placement *clusterPlacement }

func (m *membershipResponder) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*registrationv1.MembershipQuery); ok {
		ctx.Respond(m.placement.view())
	}
}

// view is this member's view of the cluster.
func (p *clusterPlacement) view() *registrationv1.MembershipAnswer {
	ids := make([]string, 0, len(p.topology()))
	for _, m := range p.topology() {
		ids = append(ids, m.Id)
	}
	slices.Sort(ids)
	return &registrationv1.MembershipAnswer{Members: ids, Shards: int32(p.shards)}
}

func viewKey(v *registrationv1.MembershipAnswer) string {
	return fmt.Sprintf("%d|%s", v.GetShards(), strings.Join(v.GetMembers(), ","))
}

// prevailing returns the view most of views hold (ties: the larger view,
// then none: ""), by key.
func prevailing(views []*registrationv1.MembershipAnswer) string {
	count, size := map[string]int{}, map[string]int{}
	for _, v := range views {
		k := viewKey(v)
		count[k]++
		size[k] = len(v.GetMembers())
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	rank := func(a, b string) int { return cmp.Or(cmp.Compare(count[a], count[b]), cmp.Compare(size[a], size[b])) }
	slices.SortFunc(keys, func(a, b string) int { return rank(b, a) })
	if len(keys) > 1 && rank(keys[0], keys[1]) == 0 {
		return ""
	}
	return keys[0]
}

// membershipProber runs until stop is called.
type membershipProber struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func startMembershipProbe(c *cluster.Cluster, p *clusterPlacement) (*membershipProber, error) {
	if _, err := c.ActorSystem.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &membershipResponder{placement: p}
	}), membershipActor); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &membershipProber{cancel: cancel}
	m.done.Go(func() {
		var since time.Time
		outvotes := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(membershipProbe):
			}
			if !p.outvoted() {
				outvotes, since = 0, time.Time{}
				if p.suspect.Swap(false) {
					p.logger.Info("this member's view of the cluster agrees with the others' again")
				}
				continue
			}
			outvotes++
			if since.IsZero() {
				since = time.Now()
			}
			if outvotes == 2 && !p.suspect.Swap(true) {
				p.logger.Warn("this member's view of the cluster is not the others': it owns no shard meanwhile")
			}
			if time.Since(since) >= fenceAfter {
				p.fenceSelf(errors.New("this member's view of the cluster has not been the others' for " + fenceAfter.String() +
					" (it was dropped and blocked, or blocked another member)"))
				return
			}
		}
	})
	return m, nil
}

// outvoted asks every member seen lately for its view, and reports whether
// this member's view is not the prevailing one.
func (p *clusterPlacement) outvoted() bool {
	mine := p.view()
	addrs := p.knownAddresses()
	answers := make(chan *registrationv1.MembershipAnswer, len(addrs))
	for _, addr := range addrs {
		go func() {
			res, err := p.cluster.ActorSystem.Root.RequestFuture(actor.NewPID(addr, membershipActor),
				&registrationv1.MembershipQuery{}, time.Second).Result()
			a, _ := res.(*registrationv1.MembershipAnswer)
			if err != nil {
				a = nil
			}
			answers <- a
		}()
	}
	views := []*registrationv1.MembershipAnswer{mine}
	for range addrs {
		if a := <-answers; a != nil {
			views = append(views, a)
		}
	}
	winner := prevailing(views)
	return winner != "" && winner != viewKey(mine)
}

func (m *membershipProber) stop() {
	m.cancel()
	m.done.Wait()
}
