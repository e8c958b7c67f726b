package warden

import (
	"context"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/shield"
)

// Op is a control operation. Each belongs to one service (Controller.Ops).
type Op string

// The shield's operations (lib/warden/shieldsvc). Each answers with the
// shield's Rules as they stand after it.
const (
	OpAllow      Op = "allow"      // allow Targets (taking them off the deny list)
	OpDeny       Op = "deny"       // deny Targets (taking them off the allow list)
	OpDown       Op = "down"       // lower the shield for Duration (DefaultDown when empty)
	OpUp         Op = "up"         // raise it again, also out of quarantine
	OpQuarantine Op = "quarantine" // cut the task off: network, DNS, gate
	OpRules      Op = "rules"      // the rules in force
	OpStatus     Op = "status"     // the same, for status
)

// DefaultDown is how long `terok-shield down` lowers the shield unless told.
const DefaultDown = 10 * time.Minute

// MaxDown is the longest the shield may be down at once.
const MaxDown = 24 * time.Hour

// Rules is the shield's answer: its posture and the policy in force.
type Rules struct {
	Posture   shield.Posture `json:"posture"`
	DownUntil time.Time      `json:"down_until,omitzero"`
	Allow     []policy.Entry `json:"allow"`
	Deny      []policy.Entry `json:"deny"`
	Learned   []LearnedAddr  `json:"learned"`
	Notes     []string       `json:"notes,omitempty"`
	Alive     bool           `json:"alive"` // the heartbeat's element is in the ruleset
}

// LearnedAddr is an address the resolver let through, and for which name.
type LearnedAddr struct {
	Addr    string    `json:"addr"`
	Name    string    `json:"name,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// Client reaches one task's running warden over its control socket. An
// error wrapping ErrNoWarden means no warden answers (the task is not
// running); any other is the warden's refusal.
type Client struct {
	path string
}

// NewClient is the client of task id's warden, whose socket is under the
// runtime directory runtime.
func NewClient(runtime, id string) *Client { return &Client{path: ControlPath(runtime, id)} }

func (c *Client) rules(ctx context.Context, req Request) (Rules, error) {
	var out Rules
	err := Call(ctx, c.path, req, &out)
	return out, err
}

func texts(ts []config.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.String()
	}
	return out
}

// Allow lets the task reach targets, at once.
func (c *Client) Allow(ctx context.Context, targets []config.Target) (Rules, error) {
	return c.rules(ctx, Request{Op: OpAllow, Targets: texts(targets)})
}

// Deny keeps the task from targets, at once (open connections included).
func (c *Client) Deny(ctx context.Context, targets []config.Target) (Rules, error) {
	return c.rules(ctx, Request{Op: OpDeny, Targets: texts(targets)})
}

// Down lowers the task's shield for d (DefaultDown when 0, at most
// MaxDown); the kernel raises it again after.
func (c *Client) Down(ctx context.Context, d time.Duration) (Rules, error) {
	req := Request{Op: OpDown}
	if d != 0 {
		req.Duration = d.String()
	}
	return c.rules(ctx, req)
}

// Up raises the task's shield again, and ends a quarantine.
func (c *Client) Up(ctx context.Context) (Rules, error) { return c.rules(ctx, Request{Op: OpUp}) }

// Quarantine cuts the task off: no network, no DNS, no gate, kept across
// restarts until Up.
func (c *Client) Quarantine(ctx context.Context) (Rules, error) {
	return c.rules(ctx, Request{Op: OpQuarantine})
}

// Rules are the task's rules in force: its policy, what its resolver let
// through, its posture.
func (c *Client) Rules(ctx context.Context) (Rules, error) { return c.rules(ctx, Request{Op: OpRules}) }

// Status is Rules, for a status line.
func (c *Client) Status(ctx context.Context) (Rules, error) {
	return c.rules(ctx, Request{Op: OpStatus})
}
