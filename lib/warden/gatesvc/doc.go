// Package gatesvc is the gate's part of a task's warden: it serves the
// task's git endpoint (lib/gate/endpoint's Endpoint, for the task's own
// token) on the task's loopback, http://127.0.0.1:9418/PROJECT.git, and
// closes it while the task is quarantined.
package gatesvc
