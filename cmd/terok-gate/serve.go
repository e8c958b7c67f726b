package gatecmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/gate/endpoint"
)

// ServeCmd is `terok-gate serve`.
type ServeCmd struct {
	Project   string `arg:"" help:"The project whose gate to serve." completion:"project"`
	Listen    string `required:"" help:"The address to listen on, HOST:PORT (port 0 picks a free one)." placeholder:"ADDR"`
	TokenFile string `name:"token-file" required:"" help:"A file holding the token a git client must present (HTTP basic user or password)." placeholder:"FILE" completion:"file"`
	Task      string `help:"The task id recorded for pushes made with the token." placeholder:"ID" default:"manual"`
}

// Listening is the first line serve prints.
type Listening struct {
	Type    string `json:"type"`
	Project string `json:"project"`
	Task    string `json:"task"`
	Address string `json:"address"`
	URL     string `json:"url"`
}

// maxTokenFile bounds the token file.
const maxTokenFile = 4096

func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", cli.Usagef("--token-file: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", cli.Usagef("--token-file: %v", err)
	}
	tok := strings.TrimSpace(string(data))
	switch {
	case len(data) > maxTokenFile:
		return "", cli.Usagef("--token-file: %s is larger than %d bytes", path, maxTokenFile)
	case len(tok) < endpoint.MinTokenLen:
		return "", cli.Usagef("--token-file: the token in %s is shorter than %d characters", path, endpoint.MinTokenLen)
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f || r == ':' }):
		return "", cli.Usagef("--token-file: the token in %s holds spaces, colons or control characters", path)
	}
	return tok, nil
}

func (c *ServeCmd) Run(env *cli.Env) error {
	h, err := newHost(env)
	if err != nil {
		return err
	}
	if err := gate.ValidTaskID(c.Task); err != nil {
		return cli.Usagef("--task: %v", err)
	}
	m, err := h.existing(c.Project)
	if err != nil {
		return err
	}
	tok, err := readToken(c.TokenFile)
	if err != nil {
		return err
	}
	if st, err := os.Stat(c.TokenFile); err == nil && st.Mode().Perm()&0o077 != 0 {
		env.Warnf("%s can be read by other users; keep a token file private (chmod 600)", c.TokenFile)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return cli.Usagef("--listen: %v", err)
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr)
	if !addr.IP.IsLoopback() {
		env.Warnf("serving on %s, which is not a loopback address: anyone who reaches it with the token can push", addr)
	}

	// What it serves, then each decision as it is made: a JSON line, or a
	// line a person reads.
	out := &cli.Stream[said]{Env: env,
		JSON: func(s said) any { return s.v },
		Text: func(env *cli.Env, s said) error { _, err := fmt.Fprintln(env.Stdout, s.text); return err },
	}
	// A stdout that is gone does not stop the server: the decisions are
	// in the gate's audit log too.
	say := func(v any, text string) { _ = out.Print(said{v, text}) }
	url := "http://" + addr.String() + "/" + m.Project + ".git"
	say(Listening{Type: "listening", Project: m.Project, Task: c.Task, Address: addr.String(), URL: url},
		fmt.Sprintf("serving the gate of %s for task %s at %s (clone with the token as user: http://TOKEN@%s/%s.git)",
			m.Project, c.Task, url, addr, m.Project))
	ep := &endpoint.Endpoint{
		Mirror: m,
		Tokens: []endpoint.Token{{Secret: tok, Task: c.Task}},
		OnEvent: func(e gate.AuditEntry) {
			say(e, eventText(e))
		},
	}
	srv := &http.Server{Handler: ep, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, ErrorLog: nil}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return cli.Failf("serve: %v", err)
	case <-env.Ctx.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return cli.Failf("serve: %v", err)
	}
	return nil
}

// said is a line serve prints: v as a JSON line, text on a terminal.
type said struct {
	v    any
	text string
}

// eventText is an audit entry as a line for a person.
func eventText(e gate.AuditEntry) string {
	verdict := "accepted"
	if !e.Accepted {
		verdict = "refused: " + e.Reason
	}
	switch e.Type {
	case "push":
		s := fmt.Sprintf("%s push %s %s..%s %s", e.Task, e.Ref, short(e.Old), short(e.New), verdict)
		if e.Forced {
			s += " (forced)"
		}
		if e.Backup != "" {
			s += ", backup " + e.Backup
		}
		return string(cli.Visible([]byte(s)))
	case "auth":
		return "refused a request from " + e.Remote + ": " + e.Reason
	}
	return string(cli.Visible([]byte(e.Type + ": " + e.Reason)))
}
