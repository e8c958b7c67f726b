package egresssvc

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/netns"
	"github.com/terok-ai/terok-go/lib/testenv"
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
	compareDownloads(b, h)
}

// BenchmarkDownloadLink: BenchmarkDownload across a network link rather
// than loopback, as a task's downloads come: the server sits in a network
// namespace of its own behind a veth pair whose far end sends at a link
// rate (tc tbf, 1 Gbit/s: a fast internet connection); the client, and
// the forwarder, on the host. The same 200 MiB, direct and forwarded, in
// one run, at 1 Gbit/s (the far end, the download's direction, shaped by
// tbf; no delay: netem is not in every kernel, this machine's included),
// then unshaped. (Loopback, BenchmarkDownload, measures the
// forwarder's own capacity instead: there the transfer is CPU-bound and
// forwarding does the kernel's TCP work twice.)
func BenchmarkDownloadLink(b *testing.B) {
	testenv.Need(b, os.Geteuid() == 0, "needs root: a network namespace and a veth pair")
	testenv.Tool(b, "ip", "iproute2")
	testenv.Tool(b, "tc", "iproute2")
	ns := fmt.Sprintf("terok-link-%d", os.Getpid()%100000)
	near, far := fmt.Sprintf("tln%d", os.Getpid()%100000), fmt.Sprintf("tlf%d", os.Getpid()%100000)
	run := func(args ...string) {
		b.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	_ = exec.Command("ip", "netns", "del", ns).Run() // left by an earlier run, if any
	_ = exec.Command("ip", "link", "del", near).Run()
	run("ip", "netns", "add", ns)
	b.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", ns).Run()
		_ = exec.Command("ip", "link", "del", near).Run()
	})
	// 198.18.0.0/15 is for benchmarks (RFC 2544): no host's own network.
	run("ip", "link", "add", near, "type", "veth", "peer", "name", far)
	run("ip", "link", "set", far, "netns", ns)
	run("ip", "addr", "add", "198.18.77.1/30", "dev", near)
	run("ip", "link", "set", near, "up")
	run("ip", "-n", ns, "addr", "add", "198.18.77.2/30", "dev", far)
	run("ip", "-n", ns, "link", "set", far, "up")
	run("ip", "-n", ns, "link", "set", "lo", "up")
	h := newHarness(b)
	var srv *http.Server
	err := netns.DoPath("/run/netns/"+ns, func() error {
		l, err := net.Listen("tcp", "198.18.77.2:80")
		if err != nil {
			return err
		}
		srv = &http.Server{Handler: h.http.Config.Handler}
		go func() { _ = srv.Serve(l) }() // ends with an error when closed
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	h.dst = netip.MustParseAddrPort("198.18.77.2:80")
	for _, rate := range []string{"1gbit", "none"} {
		b.Run("rate="+rate, func(b *testing.B) {
			if rate != "none" {
				run("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", far, "root", "tbf", "rate", rate, "burst", "512kb", "latency", "50ms")
			} else {
				_ = exec.Command("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", far, "root").Run()
			}
			compareDownloads(b, h)
		})
	}
}

// downloader returns a function that downloads /200m from addr and says
// how long it took.
func downloader(b *testing.B) func(addr string) time.Duration {
	return func(addr string) time.Duration {
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
}

// compareDownloads downloads /200m directly and through the forwarder, in
// turn, b.N times each, and reports both rates and their ratio.
func compareDownloads(b *testing.B, h *harness) {
	get := downloader(b)
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
