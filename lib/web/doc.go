// Package web serves one task's terminal session to a browser: terok's
// web mode (`terok-task run --web`, `terok-task web TASK`).
//
// The server is small on purpose. It serves one page, its script and the
// embedded xterm.js files (assets/, pinned and fetched by
// scripts/web-assets), and one WebSocket that carries the terminal: each
// WebSocket opens a stream of its own to the task's session (Config.Open:
// an exec through the engine, the path `terok-task login` takes), so
// several tabs may watch one task. Nothing else is served, and nothing the
// browser loads comes from anywhere but this server.
//
// Access: the URL carries a one-time token; the first load exchanges it
// for an HttpOnly, SameSite=Strict cookie and redirects to the bare page.
// Every path but that exchange wants the cookie; the WebSocket wants it
// and an Origin that is the server's own. A wrong or spent token is
// answered 403, each one more slowly than the last. On a loopback
// address the Host header must name the server too (no DNS rebinding).
// Every answer carries a strict Content-Security-Policy.
//
// The WebSocket's messages: binary ones are the terminal's bytes (output
// from the server, keystrokes from the browser; a view-only server drops
// the keystrokes), text ones are JSON control messages from the browser:
// {"cols":N,"rows":M} resizes its terminal.
package web
