package sniff

import (
	"encoding/binary"
	"io"
	"strings"
)

const (
	recordHandshake      = 22
	handshakeClientHello = 1
	extServerName        = 0
	maxRecord            = 16384 + 2048 // the largest TLSCiphertext
)

// ReadClientHello reads TLS records from r until it holds one whole
// handshake message, which must be a ClientHello, reassembling the message
// across records (and so across TCP segments). It returns every byte read
// (raw) and the ClientHello message, type and length included (msg). It
// reads at most limit bytes of records.
func ReadClientHello(r io.Reader, limit int) (raw, msg []byte, err error) {
	var hs []byte // handshake bytes reassembled from the records
	for {
		if len(raw)+5 > limit {
			return raw, nil, ErrTooLong
		}
		var hdr []byte
		if raw, hdr, err = readFull(r, raw, 5); err != nil {
			return raw, nil, err
		}
		if hdr[0] != recordHandshake || hdr[1] != 3 {
			return raw, nil, ErrMalformed
		}
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		if n == 0 || n > maxRecord {
			return raw, nil, ErrMalformed
		}
		if len(raw)+n > limit {
			return raw, nil, ErrTooLong
		}
		var body []byte
		if raw, body, err = readFull(r, raw, n); err != nil {
			return raw, nil, err
		}
		hs = append(hs, body...)
		if len(hs) >= 4 {
			if hs[0] != handshakeClientHello {
				return raw, nil, ErrMalformed
			}
			want := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
			if want > limit {
				return raw, nil, ErrTooLong
			}
			if len(hs) >= want {
				return raw, hs[:want], nil
			}
		}
	}
}

// reader is a bounds-checked cursor over a byte slice: every read past the
// end sets bad and returns zeros.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *reader) u16() int {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func (r *reader) u24() int {
	b := r.bytes(3)
	if b == nil {
		return 0
	}
	return int(b[0])<<16 | int(b[1])<<8 | int(b[2])
}

// ServerName returns the host name of a ClientHello message's server_name
// extension (RFC 6066), lower case without a trailing dot. ErrNoName: the
// message is well formed but names no host; ErrMalformed: it is not a
// well-formed ClientHello, or its server name is not a plain host name.
func ServerName(msg []byte) (string, error) {
	r := &reader{b: msg}
	if r.u8() != handshakeClientHello {
		return "", ErrMalformed
	}
	body := &reader{b: r.bytes(r.u24())}
	if r.bad || len(r.b) != 0 {
		return "", ErrMalformed
	}
	body.bytes(2)          // legacy_version
	body.bytes(32)         // random
	body.bytes(body.u8())  // legacy_session_id
	body.bytes(body.u16()) // cipher_suites
	body.bytes(body.u8())  // legacy_compression_methods
	if body.bad {
		return "", ErrMalformed
	}
	if len(body.b) == 0 { // no extensions at all
		return "", ErrNoName
	}
	exts := &reader{b: body.bytes(body.u16())}
	if body.bad || len(body.b) != 0 {
		return "", ErrMalformed
	}
	name, seen := "", false
	for len(exts.b) > 0 {
		typ := exts.u16()
		data := exts.bytes(exts.u16())
		if exts.bad {
			return "", ErrMalformed
		}
		if typ != extServerName {
			continue
		}
		if seen {
			return "", ErrMalformed // a second server_name
		}
		seen = true
		list := &reader{b: data}
		names := &reader{b: list.bytes(list.u16())}
		if list.bad || len(list.b) != 0 {
			return "", ErrMalformed
		}
		for len(names.b) > 0 {
			typ := names.u8()
			n := names.bytes(names.u16())
			if names.bad {
				return "", ErrMalformed
			}
			if typ != 0 { // host_name
				continue
			}
			if name != "" {
				return "", ErrMalformed // RFC 6066: one name of a type
			}
			h, ok := HostName(string(n))
			if !ok {
				return "", ErrMalformed
			}
			name = h
		}
	}
	if name == "" {
		return "", ErrNoName
	}
	return name, nil
}

// HostName returns s, lower case and without a trailing dot, when it is a
// plain DNS host name (labels of letters, digits, '-' and '_', each 1 to 63
// bytes, 253 at most in all), as the resolver accepts; ok is false
// otherwise (an address literal, a name with other bytes).
func HostName(s string) (string, bool) {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if s == "" || len(s) > 253 {
		return "", false
	}
	digitsOnly := true
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c == '-', c == '_':
				digitsOnly = false
			case c >= '0' && c <= '9':
			default:
				return "", false
			}
		}
	}
	if digitsOnly { // 10.0.0.1 is an address, not a name
		return "", false
	}
	return s, true
}
