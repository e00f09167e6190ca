package settlement

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Messages of the settlement actors.
type (
	// nudgeMsg tells a partition actor that records were queued for it.
	// Records travel in the partition's queue, not in messages, so none is
	// lost with a failed message or a stopped actor.
	nudgeMsg struct{}
	// stepMsg makes a partition actor settle its next queued record.
	stepMsg struct{}
	// startPartitions asks the supervisor for one actor per partition; it
	// closes done once they run.
	startPartitions struct {
		parts []*partition
		done  chan struct{}
	}
	// stopPartitions asks the supervisor to stop the actors of parts (each
	// finishes its batch in flight; the consumer then commits what they
	// finished); it closes done once all have stopped.
	stopPartitions struct {
		parts []*partition
		done  chan struct{}
	}
	// respawn restarts the actor of a partition the strategy gave up on.
	respawn struct{ part *partition }
)

// supervisorActor owns the partition actors: it spawns one per assigned
// partition, stops it on revoke or loss, and respawns (after the longest
// backoff) one that failed more often than the strategy allows, so a
// partition still assigned is never left without a worker.
type supervisorActor struct {
	c        *consumer
	children map[*actor.PID]*partition
	stopping map[*actor.PID]chan struct{} // stop requests waiting for Terminated
	waits    map[chan struct{}]int        // children still to stop per request
}

func newSupervisorActor(c *consumer) actor.Actor {
	return &supervisorActor{
		c:        c,
		children: map[*actor.PID]*partition{},
		stopping: map[*actor.PID]chan struct{}{},
		waits:    map[chan struct{}]int{},
	}
}

// supervisorStrategy restarts a failing partition actor, at most maxRetries
// times within window; past that the child stops and the supervisor
// respawns it later.
func supervisorStrategy(maxRetries int, window time.Duration) actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(maxRetries, window, func(reason interface{}) actor.Directive {
		return actor.RestartDirective
	})
}

// Receive handles lifecycle messages first, then requests.
func (s *supervisorActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
	case *startPartitions:
		for _, p := range msg.parts {
			s.spawn(ctx, p)
		}
		close(msg.done)
	case *stopPartitions:
		s.stop(ctx, msg)
	case *respawn:
		if msg.part.currentPID() == nil && !s.c.isAssigned(msg.part) {
			return
		}
		if msg.part.currentPID() == nil {
			s.spawn(ctx, msg.part)
		}
	case *actor.Terminated:
		s.terminated(ctx, msg.Who)
	}
}

func (s *supervisorActor) spawn(ctx actor.Context, p *partition) {
	props := actor.PropsFromProducer(func() actor.Actor { return &partitionActor{p: p, c: s.c} },
		actor.WithMailbox(actor.Bounded(s.c.mailboxSize())), actor.WithDispatcher(s.c.dispatch))
	pid := ctx.Spawn(props)
	s.children[pid] = p
	p.setPID(pid)
}

func (s *supervisorActor) stop(ctx actor.Context, msg *stopPartitions) {
	n := 0
	for _, p := range msg.parts {
		pid := p.currentPID()
		if pid == nil {
			continue
		}
		p.setPID(nil)
		s.stopping[pid] = msg.done
		ctx.Stop(pid)
		n++
	}
	if n == 0 {
		close(msg.done)
		return
	}
	s.waits[msg.done] = n
}

func (s *supervisorActor) terminated(ctx actor.Context, pid *actor.PID) {
	p := s.children[pid]
	delete(s.children, pid)
	if done, ok := s.stopping[pid]; ok {
		delete(s.stopping, pid)
		if s.waits[done]--; s.waits[done] == 0 {
			delete(s.waits, done)
			close(done)
		}
		return
	}
	if p == nil {
		return
	}
	// The strategy gave up on a partition we still own: try again later.
	p.setPID(nil)
	delay := s.c.opts.RetryBackoffMax
	s.c.log.Error("partition actor failed too often; respawning after backoff",
		"topic", p.topic, "partition", p.id, "after", delay.String())
	self, system := ctx.Self(), ctx.ActorSystem()
	time.AfterFunc(delay, func() { system.Root.Send(self, &respawn{part: p}) })
}

func (s *supervisorActor) String() string {
	return fmt.Sprintf("settlement supervisor (%d partitions)", len(s.children))
}
