package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"
)

const (
	maxUDPInFlight = 256              // queries answered at once per PacketConn
	maxTCPConns    = 64               // connections served at once per Listener
	tcpIdleTimeout = 10 * time.Second // between queries on one connection
	tcpIOTimeout   = 10 * time.Second // to read or write one message
)

// track registers c to be closed by Close, and counts its server in wg; it
// fails once Close has begun.
func (r *Resolver) track(c interface{ Close() error }) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	r.wg.Add(1)
	return true
}

func (r *Resolver) untrack(c interface{ Close() error }) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	r.wg.Done()
}

// ServeUDP answers queries arriving on pc until Close, which closes pc.
// It returns ErrClosed after Close, or the error that broke pc.
func (r *Resolver) ServeUDP(pc net.PacketConn) error {
	if !r.track(pc) {
		_ = pc.Close() // closed already, or about to be: nothing to report
		return ErrClosed
	}
	defer r.untrack(pc)
	sem := make(chan struct{}, maxUDPInFlight)
	buf := make([]byte, 65535)
	var backoff time.Duration
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if r.ctx.Err() != nil {
				return ErrClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = pause(backoff)
			continue
		}
		backoff = 0
		packet := append([]byte(nil), buf[:n]...)
		sem <- struct{}{}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithCancel(r.ctx)
			defer cancel()
			if out := r.handle(ctx, packet, false); out != nil {
				_, _ = pc.WriteTo(out, addr) // a lost answer is a lost datagram: the client asks again
			}
		}()
	}
}

// ServeTCP answers queries on connections accepted from l until Close,
// which closes l and every connection. It returns ErrClosed after Close, or
// the error that broke l.
func (r *Resolver) ServeTCP(l net.Listener) error {
	if !r.track(l) {
		_ = l.Close() // closed already, or about to be: nothing to report
		return ErrClosed
	}
	defer r.untrack(l)
	sem := make(chan struct{}, maxTCPConns)
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if r.ctx.Err() != nil {
				return ErrClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = pause(backoff)
			continue
		}
		backoff = 0
		select {
		case sem <- struct{}{}:
		default:
			_ = c.Close() // too many: fail this one fast rather than queue it
			continue
		}
		if !r.track(c) {
			_ = c.Close() // the resolver is closing
			<-sem
			continue
		}
		go func() {
			defer r.untrack(c)
			defer func() { <-sem }()
			defer c.Close()
			r.serveConn(c)
		}()
	}
}

// serveConn answers the queries of one TCP connection in order (RFC 7766
// allows it), until the client closes it, idles or sends a runt.
func (r *Resolver) serveConn(c net.Conn) {
	var lenBuf [2]byte
	for {
		if err := c.SetReadDeadline(time.Now().Add(tcpIdleTimeout)); err != nil {
			return
		}
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		packet := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if err := c.SetReadDeadline(time.Now().Add(tcpIOTimeout)); err != nil {
			return
		}
		if _, err := io.ReadFull(c, packet); err != nil {
			return
		}
		out := r.handle(r.ctx, packet, true)
		if out == nil {
			return
		}
		if err := c.SetWriteDeadline(time.Now().Add(tcpIOTimeout)); err != nil {
			return
		}
		msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(out)), uint16(len(out)))
		if _, err := c.Write(append(msg, out...)); err != nil {
			return
		}
	}
}

// pause sleeps after an error that did not close the socket (like EMFILE
// on accept), doubling from 5 ms up to 1 s, and returns the pause taken.
func pause(last time.Duration) time.Duration {
	d := min(max(2*last, 5*time.Millisecond), time.Second)
	time.Sleep(d)
	return d
}

// Close stops serving: it closes every socket given to ServeUDP and
// ServeTCP and every connection, cancels the upstream queries in flight,
// and returns once every handler has ended.
func (r *Resolver) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.cancel()
	for c := range r.conns {
		_ = c.Close() // stopping; a socket that will not close has nothing more to serve
	}
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}
