// Package shieldsvc is the shield's part of a task's warden: it enforces
// the task's egress policy in the task's network namespace and answers the
// shield's control operations.
//
// It owns, for a running task: checking that the OCI hook installed
// terok's ruleset, applying and verifying the task's policy (lib/shield),
// the firewall's heartbeat, the task's resolver on its 127.0.0.1:53
// (lib/resolver) and what it learns into the firewall, the reader of the
// firewall's log (lib/nflog), the live changes (allow, deny, down, up,
// quarantine) saved to the task's policy state, and the task's shield
// audit log, written by one goroutine in order; in hold mode
// (shield.clearance = "hold", Config.Hold) a name outside the policy is
// held by the resolver while its clearance request is pending, and the
// firewall drops rather than rejects what nothing allows.
package shieldsvc
