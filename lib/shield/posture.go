package shield

// Posture is how open a task's shield is: up (its policy in force), down
// (lowered for a while: all but private, link-local, metadata and host
// addresses) or quarantined (nothing in or out, not even DNS). The task's
// warden keeps it; terok-shield's up, down and quarantine change it.
type Posture string

// The postures.
const (
	PostureUp         Posture = "up"
	PostureDown       Posture = "down"
	PostureQuarantine Posture = "quarantined"
)
