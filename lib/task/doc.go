// Package task owns terok's tasks: their ids, their records (written
// atomically under the tasks directory's lock), the hardened container spec
// a task runs in, and the status of a task as derived from Podman's live
// state plus its record — never from the record alone.
package task
