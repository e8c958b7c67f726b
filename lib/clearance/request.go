package clearance

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind is what a request answers: a connection the firewall blocked, or a
// name the resolver refused.
type Kind string

const (
	KindBlocked  Kind = "blocked"
	KindRefused  Kind = "refused"
	KindOverflow Kind = "overflow" // the collapsed "and N more" request
)

// Protocols of a request: a refused name has no port and protocol of its
// own, so it is ProtoDNSName.
const (
	ProtoTCP     = "tcp"
	ProtoUDP     = "udp"
	ProtoDNSName = "dns-name"
)

// MaxDest is the longest destination a queue takes (a DNS name is at most
// 253 characters; an address far less).
const MaxDest = 1024

// Attempt is one blocked connection or refused name, as the firewall log
// reader or the resolver sees it.
type Attempt struct {
	Dest  string    // the name when there is one, else the address
	Port  uint16    // 0 for a refused name
	Proto string    // ProtoTCP, ProtoUDP or ProtoDNSName
	Kind  Kind      // KindBlocked or KindRefused
	Time  time.Time // when it happened, on the queue's clock; zero: now
}

func (a Attempt) validate() error {
	switch {
	case a.Dest == "":
		return fmt.Errorf("%w: no destination", ErrInvalidAttempt)
	case len(a.Dest) > MaxDest:
		return fmt.Errorf("%w: destination longer than %d bytes", ErrInvalidAttempt, MaxDest)
	case a.Proto != ProtoTCP && a.Proto != ProtoUDP && a.Proto != ProtoDNSName:
		return fmt.Errorf("%w: protocol %q", ErrInvalidAttempt, a.Proto)
	case a.Kind != KindBlocked && a.Kind != KindRefused:
		return fmt.Errorf("%w: kind %q", ErrInvalidAttempt, a.Kind)
	}
	return nil
}

// Request is a pending request: what a person decides on.
type Request struct {
	ID        string    `json:"id"`
	Task      string    `json:"task"`
	Project   string    `json:"project"`
	Dest      string    `json:"dest"` // empty on the overflow request
	Port      uint16    `json:"port,omitempty"`
	Proto     string    `json:"proto,omitempty"`
	Kind      Kind      `json:"kind"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int       `json:"count"`          // attempts folded into it
	More      int       `json:"more,omitempty"` // overflow: destinations it stands for
}

// Action is what a verdict does.
type Action string

const (
	Allow Action = "allow"
	Deny  Action = "deny"
)

// Scope is how far a verdict reaches.
type Scope string

const (
	ScopeOnce     Scope = "once"         // this task, until it ends
	ScopeProject  Scope = "project"      // also the project's [shield] rules, for later tasks
	ScopeDuration Scope = "for-duration" // this task, for Verdict.Duration (allow only)
)

// Surface is where a person decided.
type Surface string

const (
	SurfaceNotify   Surface = "notify"
	SurfaceTerminal Surface = "terminal"
	SurfaceCLI      Surface = "cli"
	SurfaceJSON     Surface = "json"
)

// Verdict answers one request.
type Verdict struct {
	Action   Action
	Scope    Scope
	Duration time.Duration // ScopeDuration only
	Who      uint32        // the deciding user's uid (from the socket's peer credentials)
	Surface  Surface
	// Error is set by the warden when the verdict could not be applied (the
	// rule change failed): the decided event carries it, and a held query
	// is refused whatever the action (see Granted).
	Error string
}

// Granted says whether a held attempt may go ahead.
func (v Verdict) Granted() bool { return v.Action == Allow && v.Error == "" }

func (v Verdict) validate() error {
	switch v.Action {
	case Allow, Deny:
	default:
		return fmt.Errorf("%w: %q", ErrInvalidAction, v.Action)
	}
	switch v.Scope {
	case ScopeOnce, ScopeProject:
		if v.Duration != 0 {
			return fmt.Errorf("%w: a duration needs scope %s", ErrInvalidScope, ScopeDuration)
		}
	case ScopeDuration:
		if v.Action != Allow {
			return fmt.Errorf("%w: only an allow can be for a duration", ErrInvalidScope)
		}
		if v.Duration <= 0 {
			return fmt.Errorf("%w: scope %s needs a positive duration", ErrInvalidScope, ScopeDuration)
		}
	default:
		return fmt.Errorf("%w: %q", ErrInvalidScope, v.Scope)
	}
	switch v.Surface {
	case SurfaceNotify, SurfaceTerminal, SurfaceCLI, SurfaceJSON:
	default:
		return fmt.Errorf("%w: %q", ErrInvalidSurface, v.Surface)
	}
	return nil
}

// Errors of a queue. Decide and Wait wrap them with the detail; test with
// errors.Is.
var (
	ErrUnknownID      = errors.New("no such request")
	ErrStale          = errors.New("request already decided or expired")
	ErrDestMismatch   = errors.New("destination does not match the request")
	ErrInvalidAction  = errors.New("invalid action")
	ErrInvalidScope   = errors.New("invalid scope")
	ErrInvalidSurface = errors.New("invalid surface")
	ErrOverflow       = errors.New("an \"and N more\" request cannot be decided")
	ErrInvalidAttempt = errors.New("invalid attempt")
	ErrClosed         = errors.New("queue closed")
	ErrLagged         = errors.New("subscriber too slow: events dropped")
)

// idBytes is the randomness of a request id: 128 bits.
const idBytes = 16

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns a fresh request id: 128 bits from crypto/rand in lower-case
// base32 (26 characters of a-z and 2-7: safe in a shell word, a JSON
// string, a file name and a D-Bus action key).
func newID() string {
	b := make([]byte, idBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it aborts the program instead)
	return strings.ToLower(idEncoding.EncodeToString(b))
}

// ValidID says whether s has the form of a request id; surfaces use it to
// refuse garbage before it reaches a warden.
func ValidID(s string) bool {
	if len(s) != idEncoding.EncodedLen(idBytes) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
