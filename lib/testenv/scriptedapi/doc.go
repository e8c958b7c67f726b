// Package scriptedapi is a model provider's HTTP API for tests: a server
// on the host's loopback that answers as the real API does, from a script
// of turns, so that a real agent CLI (Claude Code, Codex) can be driven end
// to end — through terok's vault proxy — without a paid account or the
// network.
//
// NewAnthropic speaks Anthropic's Messages API (POST /v1/messages, with
// server-sent events when the request asks for a stream, JSON otherwise);
// NewOpenAI speaks OpenAI's Responses API (POST /v1/responses). A turn is
// either a call of the agent's shell tool (Claude Code's Bash; Codex's
// exec_command, or its JavaScript exec tool in Codex's "code mode") with a
// command line, or a text that ends the agent's turn. The
// turn a request gets is the number of the assistant's turns the request
// already carries, so an agent's own side requests (which carry none, and
// offer no tools) cannot shift the script.
//
// Every request is recorded as it arrived (method, path, query, headers,
// body) for the test's assertions: which credential reached the upstream,
// and that nothing else did.
package scriptedapi
