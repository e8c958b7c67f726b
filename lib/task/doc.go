// Package task owns terok's tasks: their ids, their records (written
// atomically under the tasks directory's lock) and the files kept with
// them (the gate token, the egress policy state, the logs), the hardened
// container spec a task runs in, and their lifecycle — create (planned,
// then made), start, wait, attach, restart, followup, diff, exec, remove,
// and the kill switch (panic). A task's status is derived from Podman's
// live state plus its record, never from the record alone.
//
// A task's warden is lib/warden's: Start spawns it (warden.Spawn) and
// commands reach it with warden.Client; what runs inside it (the shield,
// the gate's endpoint) is in lib/warden's service packages, which this
// package does not import.
package task
