package task

import "github.com/terok-ai/terok-go/lib/engine"

// Status is a task's state as terok reports it.
type Status string

const (
	Created  Status = "created"   // container made, agent not started
	Running  Status = "running"   // container running
	Exited   Status = "exited"    // the agent finished with exit code 0
	Failed   Status = "failed"    // the agent finished with another code
	TimedOut Status = "timed-out" // the agent ran past its timeout (124)
	Stopped  Status = "stopped"   // a person stopped it
	Missing  Status = "missing"   // the container vanished behind terok's back
)

// Statuses lists every status, for validating filters.
var Statuses = []Status{Created, Running, Exited, Failed, TimedOut, Stopped, Missing}

// Derive computes a task's status from its record and its container's live
// state (nil when the container does not exist). The live state wins: a
// record that says "finished" for a running container reports running.
func Derive(r Record, c *engine.ContainerState) (Status, int) {
	if c == nil {
		return Missing, exitOf(r)
	}
	switch c.Status {
	case "running", "paused", "stopping":
		return Running, -1
	case "created", "configured", "initialized":
		return Created, -1
	}
	// Exited or stopped: the record says why, the container says how.
	code := c.ExitCode
	switch {
	case r.TimedOut || code == 124 && r.Mode == "headless":
		return TimedOut, 124
	case r.Stopped:
		return Stopped, code
	case code == 0:
		return Exited, 0
	}
	return Failed, code
}

func exitOf(r Record) int {
	if r.ExitCode != nil {
		return *r.ExitCode
	}
	return -1
}
