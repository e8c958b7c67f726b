package sniff

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"strings"
	"testing"
)

// FuzzClientHello: Peek never panics on arbitrary bytes, never reads past
// MaxHello, returns as raw exactly the bytes it consumed, and a name it
// returns is a plain host name.
func FuzzClientHello(f *testing.F) {
	for _, cfg := range []*tls.Config{
		{ServerName: "one.example"}, {ServerName: "two.example", MaxVersion: tls.VersionTLS12},
		{ServerName: "three.example", NextProtos: []string{"h2", "http/1.1"}}, {},
	} {
		raw := clientHello(f, cfg)
		f.Add(raw)
		f.Add(reframe(f, raw, 50))
	}
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		in = append([]byte{recordHandshake}, in...)
		br := bufio.NewReader(bytes.NewReader(in))
		o, raw, err := Peek(br)
		checkPeek(t, in, br, o, raw, err, MaxHello)
	})
}

// FuzzHTTPHead: the same for HTTP request heads, and a body that follows
// is copied without reading past its end.
func FuzzHTTPHead(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: one.example\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: one.example:80\r\nContent-Length: 3\r\n\r\nabcGET"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: one.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: x\r\n\r\nGET"))
	f.Add([]byte("GET http://one.example/ HTTP/1.0\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		in = append([]byte{'G'}, in...)
		br := bufio.NewReader(bytes.NewReader(in))
		o, raw, err := Peek(br)
		checkPeek(t, in, br, o, raw, err, MaxHead)
		if err == nil {
			var body bytes.Buffer
			if err := CopyBody(&body, br, o.Head); err == nil {
				rest, _ := io.ReadAll(br)
				if !bytes.Equal(bytes.Join([][]byte{raw, body.Bytes(), rest}, nil), in) {
					t.Fatalf("head, body and the rest are not the input")
				}
			}
		}
	})
}

func checkPeek(t *testing.T, in []byte, br *bufio.Reader, o Opening, raw []byte, err error, limit int) {
	if len(raw) > limit {
		t.Fatalf("read %d bytes, past the bound %d", len(raw), limit)
	}
	if !bytes.HasPrefix(in, raw) {
		t.Fatalf("raw is not what was read")
	}
	if err == nil {
		if rest, _ := br.Peek(br.Buffered()); !bytes.Equal(append(append([]byte{}, raw...), rest...), in[:len(raw)+len(rest)]) {
			t.Fatalf("raw and the rest do not add up")
		}
		if o.Name != "" {
			if n, ok := HostName(o.Name); !ok || n != o.Name || strings.ContainsAny(n, " :/[]") {
				t.Fatalf("name %q is not a plain host name", o.Name)
			}
		}
	}
}
