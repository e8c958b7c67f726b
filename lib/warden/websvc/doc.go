// Package websvc is the web mode's warden service: it serves a task's
// session to browsers on behalf of the task's warden, so that the URL
// outlives the command that asked for it (`terok-task run --web
// --detach`, `terok-task web --detach`).
//
// It does nothing until asked: the control operation OpWeb starts a
// server process — the terok binary beside the warden's, as `terok task
// web TASK`, with the asking command's engine socket as CONTAINER_HOST —
// reads the one JSON line with the URL it prints, and answers with that
// URL. The warden itself links no engine client and no web server (it is
// the small terok-warden binary, lib/warden/services), so a task nobody
// serves costs nothing, and one that is served pays for the server in a
// process of its own. Each server lives until the task's session ends
// (it ends by itself) or the warden ends (it is sent SIGTERM, and its
// pages are told that the serving is over). The server listens in the
// warden's own network namespace, the host's, never in the task's: the
// task cannot reach it.
package websvc
