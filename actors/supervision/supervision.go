// Package supervision provides the restart policy every supervisor in the
// service uses: restart a failed child after an exponential backoff, and stop
// it for good once it has failed too often within a window.
package supervision

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Policy bounds restarts.
type Policy struct {
	MaxRestarts    int           // failures tolerated within Window; one more stops the child
	Window         time.Duration // failures older than this are forgotten
	InitialBackoff time.Duration // delay before the first restart; doubles per failure
	MaxBackoff     time.Duration // cap on the delay
	Logger         *slog.Logger
}

// Default is the policy used unless a supervisor needs another: 10 restarts
// a minute, starting at 10 ms and capped at 5 s.
func Default(logger *slog.Logger) Policy {
	return Policy{MaxRestarts: 10, Window: time.Minute, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 5 * time.Second, Logger: logger}
}

// Strategy returns the protoactor strategy implementing p.
func (p Policy) Strategy() actor.SupervisorStrategy {
	if p.MaxRestarts < 0 || p.Window <= 0 || p.InitialBackoff <= 0 || p.MaxBackoff < p.InitialBackoff {
		panic(fmt.Sprintf("BUG: invalid supervision policy %+v", p))
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	return &strategy{p: p}
}

type strategy struct{ p Policy }

// HandleFailure restarts child after a backoff, or stops it when it has
// failed more than MaxRestarts times within Window.
func (s *strategy) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason any, _ any) {
	if rs.NumberOfFailures(s.p.Window) == 0 {
		rs.Reset()
	}
	rs.Fail()
	n := rs.NumberOfFailures(s.p.Window)
	if n > s.p.MaxRestarts {
		s.p.Logger.Error("actor failed too often; stopping it", "actor", child.String(), "failures", n, "reason", fmt.Sprint(reason))
		sup.StopChildren(child)
		return
	}
	delay := Backoff(s.p.InitialBackoff, s.p.MaxBackoff, n)
	s.p.Logger.Warn("actor failed; restarting", "actor", child.String(), "failures", n, "delay", delay, "reason", fmt.Sprint(reason))
	time.AfterFunc(delay, func() { sup.RestartChildren(child) })
}

// Backoff is initial doubled per failure after the first, capped at max.
func Backoff(initial, max time.Duration, failures int) time.Duration {
	d := initial
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}
