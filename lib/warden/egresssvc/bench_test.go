package egresssvc

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkTimeToFirstByte: a new HTTPS connection's time to the first
// byte of the response (TCP connect, TLS handshake, request), through the
// forwarder (the ClientHello inspected, the name decided, the destination
// dialled) against the same connection made directly, in one run, on
// loopback. Reports p50 of each and the difference (goal: under 1 ms
// added).
func BenchmarkTimeToFirstByte(b *testing.B) {
	h := newHarness(b)
	h.to(h.https)
	ttfb := func(addr string) time.Duration {
		start := time.Now()
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "one.example", InsecureSkipVerify: true})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: one.example\r\n\r\n"); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var direct, inspected []time.Duration
	for b.Loop() {
		direct = append(direct, ttfb(h.dst.String()))
		inspected = append(inspected, ttfb(h.addr))
	}
	slices.Sort(direct)
	slices.Sort(inspected)
	p50 := func(d []time.Duration) float64 { return float64(d[len(d)/2].Microseconds()) / 1000 }
	b.ReportMetric(p50(direct), "direct-p50-ms")
	b.ReportMetric(p50(inspected), "inspected-p50-ms")
	b.ReportMetric(p50(inspected)-p50(direct), "added-p50-ms")
}

// BenchmarkDownload: 200 MiB over plain HTTP from an allowed name through
// the forwarder (splice) against the same download directly, in one run;
// reports both rates and their ratio (goal: at least 0.95).
func BenchmarkDownload(b *testing.B) {
	h := newHarness(b)
	h.to(h.http)
	get := func(addr string) time.Duration {
		start := time.Now()
		c, err := new(net.Dialer).DialContext(context.Background(), "tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /200m HTTP/1.1\r\nHost: one.example\r\n\r\n"); err != nil {
			b.Fatal(err)
		}
		r, err := http.ReadResponse(bufio.NewReaderSize(c, 64<<10), nil)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r.Body); err != nil || n != 200<<20 {
			b.Fatalf("%d bytes, %v", n, err)
		}
		return time.Since(start)
	}
	var direct, forwarded time.Duration
	for b.Loop() {
		direct += get(h.dst.String())
		forwarded += get(h.addr)
	}
	mibps := func(d time.Duration) float64 { return float64(b.N) * 200 / d.Seconds() }
	b.ReportMetric(mibps(direct), "direct-MiB/s")
	b.ReportMetric(mibps(forwarded), "forwarded-MiB/s")
	b.ReportMetric(direct.Seconds()/forwarded.Seconds(), "ratio")
}
