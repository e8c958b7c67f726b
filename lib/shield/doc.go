// Package shield owns terok's egress firewall in a task's network
// namespace: the ruleset builder (pure: a policy in, an nftables table,
// chains, sets and rules out), and the connection that applies the ruleset
// in one atomic batch, verifies it by reading it back, keeps it alive with
// the warden's heartbeat, learns the addresses the task's resolver answers,
// and changes the allow and deny sets live (targets as lib/config parses
// them). It also reads what an OCI hook gets on stdin and writes the hook's
// registration.
//
// The ruleset is default-deny and fails closed: without the warden's
// heartbeat nothing but loopback leaves the namespace. See Build for the
// order of the rules and docs/decisions.md for why.
package shield
