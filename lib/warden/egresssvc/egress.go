// Package egresssvc is the warden's egress forwarder: the name check of a
// task's TCP connections to addresses its resolver learned (issue 16; see
// docs/decisions.md, "Shield: name-bound egress").
//
// The shield's ruleset redirects such a connection, inside the task's
// network namespace, to a listener the warden opened there. The forwarder
// takes the connection's original destination (SO_ORIGINAL_DST), reads its
// opening (lib/sniff: the TLS server name or the HTTP Host) and asks
// Decide. Allowed, it connects to the original destination from inside the
// namespace, with the mark the ruleset exempts from the redirect, writes
// the bytes it read, and copies both ways between the two TCP connections
// (io.Copy between *net.TCPConn: splice(2), the bulk never crosses user
// space). On plain HTTP, each further request's Host is checked too: one
// naming a host Decide refuses closes the connection. Refused, the task's
// connection is reset (SO_LINGER 0) and Refused is told the name presented.
package egresssvc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/terok-ai/terok-go/lib/sniff"
)

// OpeningTimeout bounds how long a connection may take to present its name.
const OpeningTimeout = 10 * time.Second

// Config is what a forwarder is given.
type Config struct {
	// Decide says whether a connection to dst presenting name may go on.
	// name is empty when the connection presented none (refused by the
	// forwarder before Decide is asked).
	Decide func(name string, dst netip.AddrPort) bool
	// Refused, if set, is told of each refused connection: the name it
	// presented (empty: none), its destination, and why.
	Refused func(name string, dst netip.AddrPort, why error)
	// Dial connects to dst from inside the task's namespace, with the
	// exempting mark.
	Dial func(ctx context.Context, dst netip.AddrPort) (*net.TCPConn, error)
	// OriginalDst returns where the task meant c to go; OriginalDst (the
	// function) by default.
	OriginalDst func(c *net.TCPConn) (netip.AddrPort, error)
	// Unreachable, if set, is told when an allowed connection's
	// destination could not be reached (the task's connection is reset,
	// as the destination's own refusal would have been seen).
	Unreachable func(name string, dst netip.AddrPort, err error)
}

// ErrRefused: Decide refused the name.
var ErrRefused = errors.New("name not allowed")

// Forwarder serves the listeners it is given.
type Forwarder struct {
	cfg Config
	wg  sync.WaitGroup
	mu  sync.Mutex
	ls  []net.Listener
}

// New returns a forwarder.
func New(c Config) *Forwarder {
	if c.OriginalDst == nil {
		c.OriginalDst = OriginalDst
	}
	return &Forwarder{cfg: c}
}

// Serve accepts connections on l until it is closed (by Close).
func (f *Forwarder) Serve(l net.Listener) error {
	f.mu.Lock()
	f.ls = append(f.ls, l)
	f.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.handle(c.(*net.TCPConn))
		}()
	}
}

// Close closes the listeners and waits for no connection: the ones under
// way end with their peers.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.ls {
		_ = l.Close()
	}
	return nil
}

// Wait waits for every connection to end (for tests).
func (f *Forwarder) Wait() { f.wg.Wait() }

func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

// refuse reports the refusal, then resets the connection: a task that saw
// its reset finds the refusal in the audit log already.
func (f *Forwarder) refuse(c *net.TCPConn, name string, dst netip.AddrPort, why error) {
	if f.cfg.Refused != nil {
		f.cfg.Refused(name, dst, why)
	}
	reset(c)
}

func (f *Forwarder) handle(c *net.TCPConn) {
	dst, err := f.cfg.OriginalDst(c)
	if err != nil || dst == addrPort(c.LocalAddr()) {
		// Not a redirected connection: the task connected to the
		// forwarder's port itself. Nothing to decide, nothing to ask.
		reset(c)
		return
	}
	br := bufio.NewReaderSize(c, 4096)
	_ = c.SetReadDeadline(time.Now().Add(OpeningTimeout))
	o, raw, err := sniff.Peek(br)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		f.refuse(c, o.Name, dst, err)
		return
	}
	if !f.cfg.Decide(o.Name, dst) {
		f.refuse(c, o.Name, dst, ErrRefused)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	up, err := f.cfg.Dial(ctx, dst)
	cancel()
	if err != nil {
		reset(c) // the destination's own refusal, as the task would have seen it
		if f.cfg.Unreachable != nil {
			f.cfg.Unreachable(o.Name, dst, err)
		}
		return
	}
	if _, err := up.Write(raw); err != nil {
		reset(c)
		_ = up.Close()
		return
	}
	done := make(chan struct{})
	go func() { // destination to task: splice
		defer close(done)
		_, _ = io.Copy(c, up)
		_ = c.CloseWrite()
	}()
	if o.Kind == sniff.TLS {
		// The rest of a TLS stream is encrypted: nothing more to check.
		// What br already buffered goes first, then splice.
		if n := br.Buffered(); n > 0 {
			b, _ := br.Peek(n)
			_, _ = up.Write(b)
		}
		_, _ = io.Copy(up, c)
		_ = up.CloseWrite()
	} else if f.http(c, up, br, o, dst) != nil {
		reset(c)
		_ = up.Close()
	} else {
		_ = up.CloseWrite()
	}
	<-done
	_ = c.Close()
	_ = up.Close()
}

// http forwards plain HTTP requests from br to up, checking each one's
// Host: the first (o) is checked already and its head written. It returns
// nil at the task's end of stream, an error when a request is refused.
func (f *Forwarder) http(c, up *net.TCPConn, br *bufio.Reader, o sniff.Opening, dst netip.AddrPort) error {
	h := o.Head
	for {
		if err := sniff.CopyBody(up, br, h); err != nil {
			return err
		}
		if _, err := br.Peek(1); err != nil {
			return nil // the task is done sending
		}
		head, raw, err := sniff.ReadHead(br, sniff.MaxHead)
		name := ""
		if head != nil {
			name = head.Host
		}
		if err == nil && !f.cfg.Decide(name, dst) {
			err = ErrRefused
		}
		if err != nil {
			if f.cfg.Refused != nil {
				f.cfg.Refused(name, dst, err)
			}
			return err
		}
		if _, err := up.Write(raw); err != nil {
			return err
		}
		h = head
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
