package clearance

import (
	"net/netip"
	"time"
)

// Audit events of the clearance, as they appear in a task's shield audit
// log beside its blocked, refused, allow and deny lines.
const (
	AuditRequest = "request" // a request became pending
	AuditVerdict = "verdict" // a person decided one
)

// AuditRecord is a line of a task's shield audit log for the clearance, in
// that log's style (lib/warden/shieldsvc's Event: time and task first, the
// event, then "name" for a name and "dst" for an address, "port",
// "protocol", "until"), with the request id that ties a verdict to its
// request and, for a verdict, who decided, where and how far.
type AuditRecord struct {
	Time     time.Time `json:"time"`
	Task     string    `json:"task"`
	Event    string    `json:"event"` // request, verdict
	ID       string    `json:"id"`
	Kind     Kind      `json:"kind,omitempty"`
	Name     string    `json:"name,omitempty"`
	Dst      string    `json:"dst,omitempty"`
	Port     uint16    `json:"port,omitempty"`
	Protocol string    `json:"protocol,omitempty"`
	Count    int       `json:"count,omitempty"` // verdict: attempts the request had folded
	More     int       `json:"more,omitempty"`
	Action   Action    `json:"action,omitempty"`
	Scope    Scope     `json:"scope,omitempty"`
	Until    time.Time `json:"until,omitzero"` // scope for-duration: when the allow ends
	Who      *uint32   `json:"who,omitempty"`
	Surface  Surface   `json:"surface,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// RequestRecord is the audit line of a new request, at now.
func RequestRecord(r Request, now time.Time) AuditRecord {
	a := AuditRecord{Time: now.UTC(), Task: r.Task, Event: AuditRequest, ID: r.ID, Kind: r.Kind,
		Port: r.Port, Protocol: r.Proto, More: r.More}
	a.Name, a.Dst = splitDest(r.Dest)
	return a
}

// VerdictRecord is the audit line of verdict v on request r, at now.
func VerdictRecord(r Request, v Verdict, now time.Time) AuditRecord {
	a := RequestRecord(r, now)
	a.Event, a.Count = AuditVerdict, r.Count
	a.Action, a.Scope, a.Who, a.Surface, a.Error = v.Action, v.Scope, &v.Who, v.Surface, v.Error
	if v.Scope == ScopeDuration {
		a.Until = now.UTC().Add(v.Duration)
	}
	return a
}

// splitDest files a destination under "name" or "dst", as the shield's
// log does.
func splitDest(dest string) (name, dst string) {
	if _, err := netip.ParseAddr(dest); err == nil {
		return "", dest
	}
	return dest, ""
}
