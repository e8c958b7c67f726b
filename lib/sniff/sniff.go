// Package sniff reads the name a TCP connection presents in its first
// bytes: the server name of a TLS ClientHello, or the Host of a plain
// HTTP/1 request. The warden's egress forwarder (lib/warden/egresssvc)
// decides on that name before it connects the task to its destination.
//
// Everything is bounded: a ClientHello is reassembled across TLS records
// and TCP segments up to MaxHello bytes, a request head up to MaxHead
// bytes; beyond, the connection is refused. Nothing here trusts its input:
// FuzzClientHello and FuzzHTTPHead feed it arbitrary bytes.
package sniff

import (
	"bufio"
	"errors"
	"io"
)

// MaxHello is the most bytes of TLS records read to find a whole
// ClientHello: a post-quantum ClientHello (ML-KEM key shares) is well over
// 1,500 bytes, one with padding or many key shares a few KiB; 16 KiB is
// the largest handshake message a single TLS record may carry.
const MaxHello = 16 << 10

// MaxHead is the most bytes of an HTTP/1 request head (request line and
// header fields) read to find its Host.
const MaxHead = 16 << 10

// Kind is the protocol a connection opened with.
type Kind int

const (
	// Unknown: neither a TLS handshake nor an HTTP/1 request.
	Unknown Kind = iota
	// TLS: a TLS handshake record.
	TLS
	// HTTP: an HTTP/1 request line.
	HTTP
)

func (k Kind) String() string {
	switch k {
	case TLS:
		return "tls"
	case HTTP:
		return "http"
	}
	return "unknown"
}

// Errors a connection is refused with.
var (
	ErrTooLong   = errors.New("sniff: too long before a name")
	ErrMalformed = errors.New("sniff: malformed")
	ErrNoName    = errors.New("sniff: no server name")
)

// Opening is what a connection's first bytes said.
type Opening struct {
	Kind Kind
	// Name is the TLS server name or the HTTP Host, lower case, without
	// port or trailing dot; empty when the connection presented none.
	Name string
	// Head is the first HTTP request's head (Kind HTTP only), for the
	// forwarder to check its body's framing.
	Head *Head
}

// Peek reads the opening of a connection from br: a TLS ClientHello (whole,
// reassembled across records) or an HTTP/1 request head. The bytes it
// consumed are returned in raw, to be written unchanged to the destination.
// For HTTP, the request's body (if any) is left unread in br.
func Peek(br *bufio.Reader) (o Opening, raw []byte, err error) {
	first, err := br.Peek(1)
	if err != nil {
		return o, nil, err
	}
	if first[0] == recordHandshake {
		o.Kind = TLS
		raw, msg, err := ReadClientHello(br, MaxHello)
		if err != nil {
			return o, raw, err
		}
		o.Name, err = ServerName(msg)
		return o, raw, err
	}
	if !isTokenByte(first[0]) && first[0] != '\r' && first[0] != '\n' {
		return o, nil, ErrMalformed
	}
	o.Kind = HTTP
	h, raw, err := ReadHead(br, MaxHead)
	if err != nil {
		return o, raw, err
	}
	o.Name, o.Head = h.Host, h
	return o, raw, nil
}

// readFull reads exactly n bytes and appends them to raw.
func readFull(r io.Reader, raw []byte, n int) ([]byte, []byte, error) {
	start := len(raw)
	raw = append(raw, make([]byte, n)...)
	k, err := io.ReadFull(r, raw[start:])
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	raw = raw[:start+k]
	return raw, raw[start:], err
}
