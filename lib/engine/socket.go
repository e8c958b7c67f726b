package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Socket is one place a Podman API may answer.
type Socket struct {
	URI    string // unix:///path, or another scheme from CONTAINER_HOST
	Source string // "config", "CONTAINER_HOST", "default" or "terok"
}

// Path returns the file of a unix socket; ok is false for other schemes.
func (s Socket) Path() (path string, ok bool) {
	p, ok := strings.CutPrefix(s.URI, "unix://")
	if !ok {
		return "", false
	}
	return p, true
}

// DefaultSocketPath is where a Podman service of this user listens by
// default: /run/podman/podman.sock for root, else
// $XDG_RUNTIME_DIR/podman/podman.sock ("" when XDG_RUNTIME_DIR is unset).
func DefaultSocketPath(uid int, getenv func(string) string) string {
	if uid == 0 {
		return "/run/podman/podman.sock"
	}
	if x := getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "podman", "podman.sock")
	}
	return ""
}

// candidates lists the sockets to try, in order, without repeats.
func candidates(opts Options) ([]Socket, error) {
	if opts.Socket != "" && !strings.HasPrefix(opts.Socket, "unix:///") {
		return nil, fmt.Errorf("podman.socket: not a unix:///path URI: %q", opts.Socket)
	}
	def := opts.DefaultSocket
	if def == "" {
		def = DefaultSocketPath(os.Geteuid(), opts.Getenv)
	}
	list := []Socket{
		{URI: opts.Socket, Source: "config"},
		{URI: opts.Getenv("CONTAINER_HOST"), Source: "CONTAINER_HOST"},
		{URI: unixURI(def), Source: "default"},
		{URI: unixURI(opts.ServiceSocket), Source: "terok"},
	}
	seen := map[string]bool{}
	var out []Socket
	for _, s := range list {
		if s.URI == "" || seen[s.URI] {
			continue
		}
		seen[s.URI] = true
		out = append(out, s)
	}
	return out, nil
}

func unixURI(path string) string {
	if path == "" {
		return ""
	}
	return "unix://" + path
}

// Ping asks the API service on the unix socket at path whether it is up
// (GET /_ping), waiting at most timeout.
func Ping(ctx context.Context, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://d/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return pingError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10)) // only the status matters
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ping answered %s", resp.Status)
	}
	return nil
}

// pingError says briefly why a socket did not answer.
func pingError(err error) error {
	switch {
	case os.IsNotExist(err), strings.Contains(err.Error(), "no such file or directory"):
		return fmt.Errorf("no socket")
	case strings.Contains(err.Error(), "connection refused"):
		return fmt.Errorf("nothing listening")
	case strings.Contains(err.Error(), "permission denied"):
		return fmt.Errorf("permission denied")
	case strings.Contains(err.Error(), "deadline exceeded"), strings.Contains(err.Error(), "Timeout"):
		return fmt.Errorf("no answer in time")
	}
	return err
}
