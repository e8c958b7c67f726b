// Package warden owns a task's warden: the host-side process that lives
// exactly as long as its task's container runs and serves, to that task
// alone, on addresses only that task can reach, the endpoints the task
// needs from the host (the gate's git endpoint; later the resolver, the
// vault proxy and the clearance stream). If it dies, the task loses those
// endpoints, never gains anything.
package warden
