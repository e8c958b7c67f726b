package egresssvc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type refusal struct {
	name string
	why  error
}

// harness: a TLS and a plain HTTP server answering for any name with the
// Host they were asked for, and a forwarder on loopback whose "original
// destination" is the server the test names (the redirect itself needs a
// namespace: cmd/terok's tests).
type harness struct {
	https, http *httptest.Server
	fwd         *Forwarder
	addr        string
	dst         netip.AddrPort
	mu          sync.Mutex
	refused     []refusal
}

const bigSize = 32 << 20

func newHarness(t testing.TB) *harness {
	h := &harness{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := map[string]int{"/big": bigSize, "/200m": 200 << 20}[r.URL.Path]; n > 0 {
			w.Header().Set("Content-Length", fmt.Sprint(n))
			buf := make([]byte, 1<<20)
			for range n >> 20 {
				_, _ = w.Write(buf)
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "host=%s body=%d", r.Host, len(body))
	})
	h.https = httptest.NewTLSServer(handler)
	h.http = httptest.NewServer(handler)
	t.Cleanup(h.https.Close)
	t.Cleanup(h.http.Close)
	h.fwd = New(Config{
		Decide: func(name string, dst netip.AddrPort) bool { return name == "one.example" },
		Refused: func(name string, dst netip.AddrPort, why error) {
			h.mu.Lock()
			h.refused = append(h.refused, refusal{name, why})
			h.mu.Unlock()
		},
		Dial: func(ctx context.Context, dst netip.AddrPort) (*net.TCPConn, error) {
			c, err := new(net.Dialer).DialContext(ctx, "tcp", dst.String())
			if err != nil {
				return nil, err
			}
			return c.(*net.TCPConn), nil
		},
		OriginalDst: func(*net.TCPConn) (netip.AddrPort, error) { return h.dst, nil },
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go func() { _ = h.fwd.Serve(l) }()
	t.Cleanup(func() { _ = h.fwd.Close() })
	return h
}

func (h *harness) to(s *httptest.Server) { h.dst = netip.MustParseAddrPort(s.Listener.Addr().String()) }

// client returns an HTTP client that connects every request to the
// forwarder, with serverName as the TLS server name.
func (h *harness) client(serverName string) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return new(net.Dialer).DialContext(ctx, "tcp", h.addr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: serverName},
	}}
}

func (h *harness) refusals() []refusal {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]refusal(nil), h.refused...)
}

func get(c *http.Client, url string) (string, error) {
	r, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return string(b), err
}

func TestForwardTLS(t *testing.T) {
	h := newHarness(t)
	h.to(h.https)
	if got, err := get(h.client("one.example"), "https://one.example/"); err != nil || got != "host=one.example body=0" {
		t.Fatalf("allowed name: %q, %v", got, err)
	}
	if _, err := get(h.client("two.example"), "https://two.example/"); err == nil {
		t.Fatal("a name outside the policy went through")
	}
	// By address: crypto/tls sends no server name.
	if _, err := get(h.client(""), "https://"+h.dst.String()+"/"); err == nil {
		t.Fatal("a connection with no name went through")
	}
	r := h.refusals()
	if len(r) != 2 || r[0].name != "two.example" || !errors.Is(r[0].why, ErrRefused) || r[1].name != "" {
		t.Fatalf("refusals = %+v", r)
	}
}

// TestForwardTLSBulk: a download through the forwarder arrives whole.
func TestForwardTLSBulk(t *testing.T) {
	h := newHarness(t)
	h.to(h.https)
	got, err := get(h.client("one.example"), "https://one.example/big")
	if err != nil || len(got) != bigSize {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
}

func TestForwardHTTP(t *testing.T) {
	h := newHarness(t)
	h.to(h.http)
	c := h.client("")
	if got, err := get(c, "http://one.example/"); err != nil || got != "host=one.example body=0" {
		t.Fatalf("allowed name: %q, %v", got, err)
	}
	r, err := c.Post("http://one.example/", "text/plain", io.NopCloser(strings.NewReader("chunked body"))) // no length: chunked
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if string(b) != "host=one.example body=12" {
		t.Fatalf("chunked post: %q", b)
	}
	if _, err := get(c, "http://two.example/"); err == nil {
		t.Fatal("a name outside the policy went through")
	}
}

// TestForwardHTTPKeepAlive: a second request naming another host on the
// same connection closes it; the first is answered.
func TestForwardHTTPKeepAlive(t *testing.T) {
	h := newHarness(t)
	h.to(h.http)
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	ask := func(host string) (string, error) {
		if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: 3\r\n\r\nabc", host); err != nil {
			return "", err
		}
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			return "", err
		}
		defer r.Body.Close()
		b, err := io.ReadAll(r.Body)
		return string(b), err
	}
	for range 2 {
		if got, err := ask("one.example"); err != nil || got != "host=one.example body=3" {
			t.Fatalf("allowed: %q, %v", got, err)
		}
	}
	if got, err := ask("two.example"); err == nil {
		t.Fatalf("a second host on a kept-alive connection was answered: %q", got)
	}
	if r := h.refusals(); len(r) != 1 || r[0].name != "two.example" {
		t.Fatalf("refusals = %+v", r)
	}
}

// TestForwardReset: a refused connection is reset, not closed: the task
// sees ECONNRESET at once.
func TestForwardReset(t *testing.T) {
	h := newHarness(t)
	h.to(h.http)
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: two.example\r\n\r\n")
	_, err = c.Read(make([]byte, 1))
	if err == nil || !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read after refusal: %v, want a reset", err)
	}
}

// TestForwardNotRedirected: a connection made to the forwarder's port
// itself (its original destination is the loopback) is reset and is not a
// refusal to report: nobody could allow it.
func TestForwardNotRedirected(t *testing.T) {
	h := newHarness(t)
	h.dst = netip.MustParseAddrPort(h.addr)
	c, err := net.Dial("tcp", h.addr)
	switch {
	case err != nil && strings.Contains(err.Error(), "reset"):
		// The reset came before connect(2) returned: the same answer.
	case err != nil:
		t.Fatal(err)
	default:
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: one.example\r\n\r\n")
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("the forwarder answered a connection to itself")
		}
	}
	_ = h.fwd.Close()
	h.fwd.Wait()
	if r := h.refusals(); len(r) != 0 {
		t.Fatalf("refusals = %+v", r)
	}
}
