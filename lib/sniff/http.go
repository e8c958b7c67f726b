package sniff

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Head is what the forwarder needs of an HTTP/1 request head.
type Head struct {
	Method string
	// Host is the request's Host (the host of an absolute-form target,
	// which must agree with the Host field), as HostName returns it.
	Host string
	// ContentLength is the body's length; with Chunked, the body is in
	// chunks instead.
	ContentLength int64
	Chunked       bool
}

// ErrUnsupported: a request the forwarder does not pass because what
// follows it could not be checked (CONNECT, Upgrade, a transfer coding
// other than chunked).
var ErrUnsupported = errors.New("sniff: unsupported request")

// ReadHead reads one HTTP/1 request head (request line through the empty
// line) from br, at most limit bytes, and returns it parsed and raw. A
// request that names no host (HTTP/1.0 without Host, a Host that is an
// address) returns ErrNoName, with the head; one that is ambiguous about
// its host or its body's length (two Hosts, a Host that disagrees with the
// target, Content-Length and Transfer-Encoding together) ErrMalformed: a
// smuggled second request must not slip past the check.
func ReadHead(br *bufio.Reader, limit int) (*Head, []byte, error) {
	var raw []byte
	var lines [][]byte
	for {
		line, err := readLine(br, &raw, limit)
		if err != nil {
			return nil, raw, err
		}
		if len(line) == 0 {
			if len(lines) == 0 { // RFC 9112 2.2: ignore a blank line before a request
				continue
			}
			break
		}
		if len(lines) == 0 && !requestLine(line) {
			return nil, raw, ErrMalformed // not HTTP: no need to wait for more
		}
		lines = append(lines, line)
	}
	h, err := parseHead(lines)
	return h, raw, err
}

// readLine reads one line ending in LF (CRLF or bare LF), appending it to
// raw, and returns it without its line ending.
func readLine(br *bufio.Reader, raw *[]byte, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(*raw)+len(frag) > limit {
			return nil, ErrTooLong
		}
		*raw = append(*raw, frag...)
		line = append(line, frag...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(*raw) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
	return line, nil
}

// requestLine reports whether line looks like an HTTP/1 request line.
func requestLine(line []byte) bool {
	return bytes.Count(line, []byte{' '}) == 2 && (bytes.HasSuffix(line, []byte(" HTTP/1.1")) || bytes.HasSuffix(line, []byte(" HTTP/1.0")))
}

func parseHead(lines [][]byte) (*Head, error) {
	parts := strings.Split(string(lines[0]), " ")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return nil, ErrMalformed
	}
	for i := 0; i < len(parts[0]); i++ {
		if !isTokenByte(parts[0][i]) {
			return nil, ErrMalformed
		}
	}
	if parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0" {
		return nil, ErrMalformed
	}
	h := &Head{Method: parts[0]}
	if h.Method == "CONNECT" {
		return h, ErrUnsupported
	}
	var hosts, lengths, codings []string
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(string(l), ":")
		if !ok || name == "" || l[0] == ' ' || l[0] == '\t' { // no obsolete line folding
			return h, ErrMalformed
		}
		for i := 0; i < len(name); i++ {
			if !isTokenByte(name[i]) {
				return h, ErrMalformed
			}
		}
		value = strings.Trim(value, " \t")
		switch strings.ToLower(name) {
		case "host":
			hosts = append(hosts, value)
		case "content-length":
			lengths = append(lengths, value)
		case "transfer-encoding":
			codings = append(codings, value)
		case "upgrade":
			return h, ErrUnsupported
		}
	}
	switch {
	case len(codings) > 0 && len(lengths) > 0:
		return h, ErrMalformed
	case len(codings) > 0:
		if len(codings) != 1 || !strings.EqualFold(codings[0], "chunked") {
			return h, ErrUnsupported
		}
		h.Chunked = true
	case len(lengths) > 0:
		for _, v := range lengths {
			if v != lengths[0] {
				return h, ErrMalformed
			}
		}
		n, err := strconv.ParseInt(lengths[0], 10, 63)
		if err != nil || n < 0 || lengths[0][0] == '+' {
			return h, ErrMalformed
		}
		h.ContentLength = n
	}
	if len(hosts) > 1 {
		return h, ErrMalformed
	}
	target := ""
	if t := parts[1]; len(t) > 7 && strings.EqualFold(t[:7], "http://") {
		target, _, _ = strings.Cut(t[7:], "/")
		target, _, _ = strings.Cut(target, "?")
		if strings.Contains(target, "@") {
			return h, ErrMalformed
		}
	}
	if len(hosts) == 0 {
		if target != "" {
			hosts = []string{target}
		} else {
			return h, ErrNoName
		}
	}
	host, ok := hostOfField(hosts[0])
	if target != "" {
		if t, tok := hostOfField(target); !tok || !ok || t != host {
			return h, ErrMalformed
		}
	}
	if !ok {
		return h, ErrNoName
	}
	h.Host = host
	return h, nil
}

// hostOfField returns the host name of a Host field (host[:port]).
func hostOfField(v string) (string, bool) {
	if strings.HasPrefix(v, "[") { // an IPv6 literal is not a name
		return "", false
	}
	if host, port, ok := strings.Cut(v, ":"); ok {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", false
		}
		v = host
	}
	return HostName(v)
}

// isTokenByte reports whether c may be in an HTTP token (RFC 9110 5.6.2).
func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// maxChunkLine bounds a chunk-size line (with its extensions) and a trailer
// field line.
const maxChunkLine = 4 << 10

// CopyBody copies the body of the request h heads from br to dst,
// unchanged (chunked stays chunked), and stops at its end, so the next
// bytes in br are the next request's.
func CopyBody(dst io.Writer, br *bufio.Reader, h *Head) error {
	if !h.Chunked {
		_, err := io.CopyN(dst, br, h.ContentLength)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	for {
		var raw []byte
		line, err := readLine(br, &raw, maxChunkLine)
		if err != nil {
			return err
		}
		size, _, _ := strings.Cut(string(line), ";")
		n, err := strconv.ParseUint(strings.TrimRight(size, " \t"), 16, 62)
		if err != nil || size == "" || size[0] == '+' {
			return ErrMalformed
		}
		if _, err := dst.Write(raw); err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if _, err := io.CopyN(dst, br, int64(n)); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		raw = raw[:0]
		if line, err := readLine(br, &raw, 2); err != nil || len(line) != 0 {
			return ErrMalformed
		}
		if _, err := dst.Write(raw); err != nil {
			return err
		}
	}
	for { // trailer fields, then the empty line
		var raw []byte
		line, err := readLine(br, &raw, maxChunkLine)
		if err != nil {
			return err
		}
		if _, err := dst.Write(raw); err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
	}
}
