package scriptedapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
)

// Turn is one answer of the model.
type Turn struct {
	// Bash, when set, makes the answer a call of the agent's shell tool
	// running this command line; the agent runs it and sends the result
	// in its next request.
	Bash string
	// Text is the answer's text: before the tool call, or, without Bash,
	// the whole answer, which ends the agent's turn.
	Text string
}

// Script is what a server answers.
type Script struct {
	// Turns are the model's answers in order; a request past the last
	// gets Done.
	Turns []Turn
	// Done is the text that ends a conversation longer than Turns
	// (default "Done.").
	Done string
	// Authorized, when set, decides whether a request's credentials are
	// accepted; a request it refuses gets 401 in the API's error shape
	// (and is recorded all the same).
	Authorized func(http.Header) bool
	// BeforeEvent, when set, is called before each server-sent event is
	// written, with the event's name; a test can hold the stream there.
	BeforeEvent func(name string)
}

// Request is one request the server received, as it arrived.
type Request struct {
	Method string
	Path   string // the URL's path
	Query  string // the raw query, without "?"
	Header http.Header
	Body   []byte
}

// Server is a scripted API on the host's loopback.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string

	script Script
	http   *httptest.Server
	mu     sync.Mutex
	reqs   []Request
	seq    int
}

func start(s Script, route func(*Server, http.ResponseWriter, *http.Request, []byte)) *Server {
	if s.Done == "" {
		s.Done = "Done."
	}
	srv := &Server{script: s}
	srv.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		srv.mu.Lock()
		srv.reqs = append(srv.reqs, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: body})
		srv.mu.Unlock()
		route(srv, w, r, body)
	}))
	srv.URL = srv.http.URL
	return srv
}

// Close stops the server.
func (s *Server) Close() { s.http.Close() }

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Find returns the requests for one method and path.
func (s *Server) Find(method, path string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Seen reports whether any request so far carried needle in a header name
// or value, the path, the query or the body.
func (s *Server) Seen(needle string) bool {
	for _, r := range s.Requests() {
		if strings.Contains(r.Path, needle) || strings.Contains(r.Query, needle) || bytes.Contains(r.Body, []byte(needle)) {
			return true
		}
		for k, vs := range r.Header {
			if strings.Contains(k, needle) || strings.Contains(strings.Join(vs, "\n"), needle) {
				return true
			}
		}
	}
	return false
}

// Summary is one line per request (method, path, query, and the headers'
// names), for a test's log.
func (s *Server) Summary() string {
	var b strings.Builder
	for _, r := range s.Requests() {
		q := ""
		if r.Query != "" {
			q = "?" + r.Query
		}
		names := make([]string, 0, len(r.Header))
		for k := range r.Header {
			names = append(names, strings.ToLower(k))
		}
		slices.Sort(names)
		fmt.Fprintf(&b, "%s %s%s (%d bytes) headers: %s\n", r.Method, r.Path, q, len(r.Body), strings.Join(names, " "))
	}
	return b.String()
}

// nextID numbers the server's messages and tool calls.
func (s *Server) nextID(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s_scripted%04d", prefix, s.seq)
}

// turn is the script's answer to a conversation in which the assistant
// has already answered done times.
func (s *Server) turn(done int) Turn {
	if done < len(s.script.Turns) {
		return s.script.Turns[done]
	}
	return Turn{Text: s.script.Done}
}

// events writes server-sent events, each flushed as soon as it is written,
// as the real APIs stream them.
type events struct {
	w      http.ResponseWriter
	before func(string)
	err    error
}

func newEvents(w http.ResponseWriter, before func(string)) *events {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &events{w: w, before: before}
}

// send writes one event: its name on an `event:` line, its data as one
// line of JSON, a blank line; then flushes. An empty name writes only the
// data line (OpenAI's chat streams name no events).
func (e *events) send(name string, data any) {
	if e.err != nil {
		return
	}
	if e.before != nil {
		e.before(name)
	}
	b, err := json.Marshal(data)
	if err != nil {
		e.err = err
		return
	}
	if name != "" {
		_, e.err = fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", name, b)
	} else {
		_, e.err = fmt.Fprintf(e.w, "data: %s\n\n", b)
	}
	if f, ok := e.w.(http.Flusher); ok && e.err == nil {
		f.Flush()
	}
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to tell it
}

// tokens is a plausible token count for a text: a word is about one.
func tokens(b []byte) int { return len(bytes.Fields(b)) + 1 }
