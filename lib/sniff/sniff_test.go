package sniff

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// clientHello returns the first bytes crypto/tls's client writes with cfg:
// its ClientHello records.
func clientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	c1, c2 := net.Pipe()
	defer c2.Close()
	cfg.InsecureSkipVerify = true
	go func() {
		defer c1.Close()
		_ = c1.SetDeadline(time.Now().Add(5 * time.Second))
		_ = tls.Client(c1, cfg).Handshake()
	}()
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	raw, msg, err := ReadClientHello(c2, 1<<20)
	if err != nil {
		t.Fatalf("reading crypto/tls's ClientHello: %v", err)
	}
	if len(msg) < 4 {
		t.Fatal("short ClientHello")
	}
	return raw
}

// reframe splits the handshake messages of the records in raw into
// records of at most n bytes each.
func reframe(t testing.TB, raw []byte, n int) []byte {
	t.Helper()
	var hs []byte
	for r := raw; len(r) > 0; {
		l := int(binary.BigEndian.Uint16(r[3:5]))
		hs = append(hs, r[5:5+l]...)
		r = r[5+l:]
	}
	var out []byte
	for len(hs) > 0 {
		k := min(n, len(hs))
		out = append(out, recordHandshake, 3, 1, byte(k>>8), byte(k))
		out = append(out, hs[:k]...)
		hs = hs[k:]
	}
	return out
}

func manyProtos(n int) []string {
	var p []string
	for i := range n {
		p = append(p, strings.Repeat(string(rune('a'+i%26)), 200))
	}
	return p
}

func TestPeekTLS(t *testing.T) {
	big := clientHello(t, &tls.Config{ServerName: "big.example", NextProtos: manyProtos(20)})
	if len(big) <= 2048 {
		t.Fatalf("the large ClientHello is only %d bytes", len(big))
	}
	cases := []struct {
		name  string
		raw   []byte
		chunk int // write at most chunk bytes at a time (0: all at once)
		want  string
		err   error
	}{
		{"tls13", clientHello(t, &tls.Config{ServerName: "one.example", MinVersion: tls.VersionTLS13}), 0, "one.example", nil},
		{"tls12", clientHello(t, &tls.Config{ServerName: "Two.Example.", MaxVersion: tls.VersionTLS12}), 0, "two.example", nil},
		{"alpn", clientHello(t, &tls.Config{ServerName: "alpn.example", NextProtos: []string{"h2", "http/1.1"}}), 0, "alpn.example", nil},
		{"large", big, 0, "big.example", nil},
		{"large, one byte a write", big, 1, "big.example", nil},
		{"large, 100-byte records", reframe(t, big, 100), 7, "big.example", nil},
		{"one-byte records", reframe(t, clientHello(t, &tls.Config{ServerName: "tiny.example"}), 1), 0, "tiny.example", nil},
		{"no server name", clientHello(t, &tls.Config{}), 0, "", ErrNoName},
		{"address as server name", clientHello(t, &tls.Config{ServerName: "192.0.2.1"}), 0, "", ErrNoName}, // crypto/tls sends no SNI for an address
		{"too large", clientHello(t, &tls.Config{ServerName: "huge.example", NextProtos: manyProtos(100)}), 0, "", ErrTooLong},
		{"not a ClientHello", []byte{22, 3, 1, 0, 4, 2, 0, 0, 0}, 0, "", ErrMalformed},
		{"empty record", []byte{22, 3, 1, 0, 0}, 0, "", ErrMalformed},
		{"truncated", big[:1000], 0, "", io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(c.raw)
			if c.chunk == 1 {
				r = iotest.OneByteReader(r)
			} else if c.chunk > 0 {
				r = &chunked{r: r, n: c.chunk}
			}
			o, raw, err := Peek(bufio.NewReader(r))
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if o.Kind != TLS || o.Name != c.want {
				t.Fatalf("opening = %v %q, want tls %q", o.Kind, o.Name, c.want)
			}
			if err == nil && !bytes.Equal(raw, c.raw) {
				t.Fatalf("raw is %d bytes, not the %d read", len(raw), len(c.raw))
			}
		})
	}
}

type chunked struct {
	r io.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// TestPeekLeavesTheRest: Peek reads the ClientHello and not one byte more.
// TestPeekOther: a first byte that opens neither TLS nor HTTP is refused.
func TestPeekOther(t *testing.T) {
	for _, in := range []string{"\x15\x03\x01\x00\x02\x01\x00", "SSH-2.0-OpenSSH\r\n"[:0] + "\x00abc"} {
		o, _, err := Peek(bufio.NewReader(strings.NewReader(in)))
		if o.Kind != Unknown || !errors.Is(err, ErrMalformed) {
			t.Errorf("Peek(%q) = %v, %v", in, o.Kind, err)
		}
	}
}

func TestPeekLeavesTheRest(t *testing.T) {
	hello := clientHello(t, &tls.Config{ServerName: "one.example"})
	br := bufio.NewReader(bytes.NewReader(append(append([]byte{}, hello...), "after"...)))
	if _, raw, err := Peek(br); err != nil || len(raw) != len(hello) {
		t.Fatalf("Peek: %v, %d bytes", err, len(raw))
	}
	if rest, _ := io.ReadAll(br); string(rest) != "after" {
		t.Fatalf("left %q", rest)
	}
}

func TestServerNameHandmade(t *testing.T) {
	ext := func(typ int, data []byte) []byte {
		return append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
	}
	sni := func(names ...string) []byte {
		var list []byte
		for _, n := range names {
			list = append(list, 0, byte(len(n)>>8), byte(len(n)))
			list = append(list, n...)
		}
		return ext(0, append([]byte{byte(len(list) >> 8), byte(len(list))}, list...))
	}
	hello := func(exts ...[]byte) []byte {
		body := append([]byte{3, 3}, make([]byte, 32)...)
		body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0)
		var e []byte
		for _, x := range exts {
			e = append(e, x...)
		}
		body = append(body, byte(len(e)>>8), byte(len(e)))
		body = append(body, e...)
		return append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	}
	cases := []struct {
		name string
		msg  []byte
		want string
		err  error
	}{
		{"plain", hello(sni("a.example")), "a.example", nil},
		{"after another extension", hello(ext(16, []byte{0, 3, 2, 'h', '2'}), sni("b.example")), "b.example", nil},
		{"two names", hello(sni("a.example", "b.example")), "", ErrMalformed},
		{"two extensions", hello(sni("a.example"), sni("b.example")), "", ErrMalformed},
		{"bad byte", hello(sni("a b.example")), "", ErrMalformed},
		{"address", hello(sni("10.0.0.1")), "", ErrMalformed},
		{"no extensions", hello(), "", ErrNoName},
		{"trailing garbage", append(hello(sni("a.example")), 0), "", ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ServerName(c.msg)
			if got != c.want || !errors.Is(err, c.err) {
				t.Fatalf("ServerName = %q, %v; want %q, %v", got, err, c.want, c.err)
			}
		})
	}
}

func TestReadHead(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		host   string
		length int64
		chunk  bool
		err    error
	}{
		{"get", "GET / HTTP/1.1\r\nHost: One.Example\r\nAccept: */*\r\n\r\n", "one.example", 0, false, nil},
		{"port", "GET / HTTP/1.1\r\nhost: one.example:8080\r\n\r\n", "one.example", 0, false, nil},
		{"bare LF", "GET / HTTP/1.1\nHost: one.example\n\n", "one.example", 0, false, nil},
		{"leading blank line", "\r\nGET / HTTP/1.1\r\nHost: one.example\r\n\r\n", "one.example", 0, false, nil},
		{"post", "POST /x HTTP/1.1\r\nHost: one.example\r\nContent-Length: 5\r\n\r\n", "one.example", 5, false, nil},
		{"chunked", "POST /x HTTP/1.1\r\nHost: one.example\r\nTransfer-Encoding: Chunked\r\n\r\n", "one.example", 0, true, nil},
		{"absolute form", "GET http://one.example/x HTTP/1.1\r\nHost: one.example\r\n\r\n", "one.example", 0, false, nil},
		{"absolute form, other host", "GET http://two.example/x HTTP/1.1\r\nHost: one.example\r\n\r\n", "", 0, false, ErrMalformed},
		{"absolute form, userinfo", "GET http://one.example@two.example/ HTTP/1.1\r\nHost: one.example\r\n\r\n", "", 0, false, ErrMalformed},
		{"two hosts", "GET / HTTP/1.1\r\nHost: one.example\r\nHost: two.example\r\n\r\n", "", 0, false, ErrMalformed},
		{"no host", "GET / HTTP/1.0\r\n\r\n", "", 0, false, ErrNoName},
		{"address host", "GET / HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n", "", 0, false, ErrNoName},
		{"ipv6 host", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", "", 0, false, ErrNoName},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: one.example\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "", 0, false, ErrMalformed},
		{"two lengths", "POST / HTTP/1.1\r\nHost: one.example\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "", 0, false, ErrMalformed},
		{"negative length", "POST / HTTP/1.1\r\nHost: one.example\r\nContent-Length: -3\r\n\r\n", "", 0, false, ErrMalformed},
		{"gzip coding", "POST / HTTP/1.1\r\nHost: one.example\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "", 0, false, ErrUnsupported},
		{"connect", "CONNECT two.example:443 HTTP/1.1\r\nHost: one.example\r\n\r\n", "", 0, false, ErrUnsupported},
		{"upgrade", "GET / HTTP/1.1\r\nHost: one.example\r\nUpgrade: websocket\r\n\r\n", "", 0, false, ErrUnsupported},
		{"folded", "GET / HTTP/1.1\r\nHost: one.example\r\n x: y\r\n\r\n", "", 0, false, ErrMalformed},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "", 0, false, ErrMalformed},
		{"too long", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", MaxHead) + "\r\n\r\n", "", 0, false, ErrTooLong},
		{"truncated", "GET / HTTP/1.1\r\nHost: one.exa", "", 0, false, io.ErrUnexpectedEOF},
		{"not http, refused at its first line", "hello\n", "", 0, false, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, raw, err := Peek(bufio.NewReader(iotest.HalfReader(strings.NewReader(c.in))))
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			if o.Kind != HTTP || o.Name != c.host || o.Head.ContentLength != c.length || o.Head.Chunked != c.chunk {
				t.Fatalf("got %v %q %+v", o.Kind, o.Name, o.Head)
			}
			if string(raw) != c.in {
				t.Fatalf("raw = %q", raw)
			}
		})
	}
}

func TestCopyBody(t *testing.T) {
	next := "GET / HTTP/1.1\r\nHost: two.example\r\n\r\n"
	cases := []struct {
		name string
		h    Head
		body string
		err  error
	}{
		{"length", Head{ContentLength: 5}, "hello", nil},
		{"none", Head{}, "", nil},
		{"chunked", Head{Chunked: true}, "5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n", nil},
		{"chunked, no trailer", Head{Chunked: true}, "A\r\n0123456789\r\n0\r\n\r\n", nil},
		{"bad size", Head{Chunked: true}, "zz\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"chunk overruns", Head{Chunked: true}, "2\r\nhello\r\n0\r\n\r\n", ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(c.body + next))
			var out bytes.Buffer
			err := CopyBody(&out, br, &c.h)
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			if out.String() != c.body {
				t.Fatalf("copied %q", out.String())
			}
			// The next request is what remains, and it is read as one.
			o, _, err := Peek(br)
			if err != nil || o.Name != "two.example" {
				t.Fatalf("next request: %q, %v", o.Name, err)
			}
		})
	}
}

func TestHostName(t *testing.T) {
	for in, want := range map[string]string{
		"A.Example.": "a.example", "x_y.example": "x_y.example", "1.2.3.4": "", "": "", ".": "",
		"a..b": "", "a b": "", strings.Repeat("a", 64) + ".example": "", "1e100.net": "1e100.net",
	} {
		got, ok := HostName(in)
		if got != want || ok != (want != "") {
			t.Errorf("HostName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
