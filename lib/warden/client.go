package warden

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
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
	// NameBinding is how TCP to learned addresses is checked by name
	// (config shield.name_binding: rule or policy); empty: by address
	// only. AddressPorts keep the address rule.
	NameBinding  string   `json:"name_binding,omitempty"`
	AddressPorts []uint16 `json:"address_ports,omitempty"`
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

// The clearance's operations (lib/warden/clearsvc): the task's pending
// requests, a verdict on one, and the stream of its events.
const (
	OpClearancePending Op = "clearance-pending" // the pending requests ([]clearance.Request)
	OpClearanceDecide  Op = "clearance-decide"  // a verdict: ID, Dest, Action, Scope, Duration, Surface
	OpClearanceWatch   Op = "clearance-watch"   // streams clearance.Events, the pending requests first
)

// Pending lists the task's pending clearance requests, oldest first.
func (c *Client) Pending(ctx context.Context) ([]clearance.Request, error) {
	var out []clearance.Request
	err := Call(ctx, c.path, Request{Op: OpClearancePending}, &out)
	return out, err
}

// Decide answers the task's request id, which must be for dest, with v
// (its Who is ignored: the warden takes the caller's uid from the socket).
// It returns the decided event; when the warden could not apply the
// verdict the event carries the error, and so does err.
func (c *Client) Decide(ctx context.Context, id, dest string, v clearance.Verdict) (clearance.Event, error) {
	req := Request{Op: OpClearanceDecide, ID: id, Dest: dest, Action: string(v.Action), Scope: string(v.Scope), Surface: string(v.Surface)}
	if v.Duration != 0 {
		req.Duration = v.Duration.String()
	}
	var ev clearance.Event
	if err := Call(ctx, c.path, req, &ev); err != nil {
		return clearance.Event{}, err
	}
	if ev.Error != "" {
		return ev, fmt.Errorf("the verdict on %s was not applied: %s", id, ev.Error)
	}
	return ev, nil
}

// Watch hands each of the task's clearance events to each, the requests
// pending now first (as "pending" events), until each fails (its error),
// the warden ends (nil), ctx ends (its error), or the warden cuts a
// watcher too slow to keep up (an error wrapping clearance.ErrLagged's
// text; watch again).
func (c *Client) Watch(ctx context.Context, each func(clearance.Event) error) error {
	return CallStream(ctx, c.path, Request{Op: OpClearanceWatch}, func(raw json.RawMessage) error {
		var ev clearance.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return fmt.Errorf("the warden's event: %w", err)
		}
		return each(ev)
	})
}
