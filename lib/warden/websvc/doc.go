// Package websvc is the web mode's warden service: it serves a task's
// session to browsers from the task's warden, so that the URL outlives the
// command that asked for it (`terok-task run --web --detach`, `terok-task
// web --detach`).
//
// It does nothing until asked: the control operation OpWeb starts a
// server (lib/web) on the host's loopback (or the address asked for) with
// a token of its own, and answers with its URL. Each server lives until
// the warden ends, that is until the task's container does; its pages are
// then told that the serving is over. The server listens in the warden's
// own network namespace, the host's, never in the task's: the task cannot
// reach it. Its streams reach the session through the engine, as
// `terok-task login` does; the warden connects to the engine on the first
// request only, so a task nobody serves costs nothing.
package websvc
