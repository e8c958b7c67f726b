package vault

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The benchmarks run a proxy the way a warden would — the tokens file, an
// opened store behind a Refresher, an audit log on disk — in front of a
// scripted upstream, and compare every figure with direct requests to the
// same upstream in the same run:
//
//	go test -run XXX -bench Proxy -benchtime 3000x ./lib/vault
//
// Custom metrics: *-µs are microseconds at the 50th/99th percentile;
// "added" is proxy minus direct.

type benchRig struct {
	up     *httptest.Server
	proxy  *httptest.Server
	token  string
	client *http.Client
	audit  *AuditLog
}

func newBenchRig(b *testing.B, handler http.HandlerFunc) *benchRig {
	b.Helper()
	up := httptest.NewServer(handler)
	b.Cleanup(up.Close)
	dir, _, s := newVault(b)
	if err := s.Set("anthropic", Credential{Kind: APIKey, APIKey: realKey}); err != nil {
		b.Fatal(err)
	}
	tk := OpenTokens(filepath.Join(dir, "tokens.json"))
	tok, err := tk.Mint("task", "proj", "anthropic")
	if err != nil {
		b.Fatal(err)
	}
	routes, _ := DefaultRoutes().With(map[string]RouteConfig{"anthropic": {Upstream: up.URL}})
	audit, err := OpenAudit(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	h, err := NewProxy(ProxyConfig{Task: "task", Tokens: tk, Credentials: &Refresher{Store: s, Routes: routes}, Routes: routes, Audit: audit})
	if err != nil {
		b.Fatal(err)
	}
	px := httptest.NewUnstartedServer(nil)
	px.Config = NewServer(h)
	px.Start()
	b.Cleanup(func() { px.Close(); _ = audit.Close() }) // the run is over; its figures are taken
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	return &benchRig{up: up, proxy: px, token: tok, client: &http.Client{Transport: tr}, audit: audit}
}

// get makes one request and returns the time to its first body byte and
// to its end.
func (br *benchRig) get(b *testing.B, base string) (first, total time.Duration) {
	req, _ := http.NewRequest("POST", base+"/v1/messages", strings.NewReader(`{"model":"m","max_tokens":1}`))
	req.Header.Set("x-api-key", br.token)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := br.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if _, err := r.ReadByte(); err != nil {
		b.Fatal(err)
	}
	first = time.Since(start)
	if _, err := io.Copy(io.Discard, r); err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
	return first, time.Since(start)
}

func pct(ds []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)-1))
	return float64(s[i].Nanoseconds()) / 1e3
}

// BenchmarkProxyLatency: the latency a proxied request adds to a small
// JSON answer, against the same request made directly.
func BenchmarkProxyLatency(b *testing.B) {
	br := newBenchRig(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the upstream stub only drains the request
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"msg_1","type":"message","content":[{"type":"text","text":"ok"}]}`) // the client checks what arrives
	})
	for i := 0; i < 50; i++ { // warm both connection pools
		br.get(b, br.up.URL)
		br.get(b, br.proxy.URL)
	}
	var direct, proxied []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Interleaved, so that drift in the machine's load hits both alike.
		_, d := br.get(b, br.up.URL)
		_, p := br.get(b, br.proxy.URL)
		direct, proxied = append(direct, d), append(proxied, p)
	}
	b.StopTimer()
	b.ReportMetric(pct(direct, .5), "direct-p50-µs")
	b.ReportMetric(pct(proxied, .5), "proxy-p50-µs")
	b.ReportMetric(pct(proxied, .5)-pct(direct, .5), "added-p50-µs")
	b.ReportMetric(pct(direct, .99), "direct-p99-µs")
	b.ReportMetric(pct(proxied, .99), "proxy-p99-µs")
	b.ReportMetric(pct(proxied, .99)-pct(direct, .99), "added-p99-µs")
}

// sse answers with n server-sent events, gap apart, the first at once.
func sse(n int, gap time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the upstream stub only drains the request
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		for i := 0; i < n; i++ {
			if i > 0 {
				time.Sleep(gap)
			}
			fmt.Fprintf(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"token %d\"}}\n\n", i)
			fl.Flush()
		}
	}
}

// BenchmarkProxyFirstByte: time to the first byte of a stream whose events
// come 20 ms apart — a buffering proxy would show the whole stream's time.
func BenchmarkProxyFirstByte(b *testing.B) {
	br := newBenchRig(b, sse(5, 20*time.Millisecond))
	br.get(b, br.up.URL)
	br.get(b, br.proxy.URL)
	var direct, proxied []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, _ := br.get(b, br.up.URL)
		p, _ := br.get(b, br.proxy.URL)
		direct, proxied = append(direct, d), append(proxied, p)
	}
	b.StopTimer()
	b.ReportMetric(pct(direct, .5), "direct-ttfb-p50-µs")
	b.ReportMetric(pct(proxied, .5), "proxy-ttfb-p50-µs")
	b.ReportMetric(pct(proxied, .99), "proxy-ttfb-p99-µs")
}

// BenchmarkProxyConcurrentStreams: 100 streams at once through one proxy
// (20 events each, 5 ms apart, so ~100 ms a stream), against 100 direct.
// Reported: wall time of a round of 100, and each stream's first byte and
// total time at the 99th percentile.
func BenchmarkProxyConcurrentStreams(b *testing.B) {
	const streams = 100
	br := newBenchRig(b, sse(20, 5*time.Millisecond))
	round := func(base string) (wall time.Duration, firsts, totals []time.Duration) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; i < streams; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, t := br.get(b, base)
				mu.Lock()
				firsts, totals = append(firsts, f), append(totals, t)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return time.Since(start), firsts, totals
	}
	round(br.up.URL)
	round(br.proxy.URL)
	var dWall, pWall time.Duration
	var dFirst, pFirst, dTotal, pTotal []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, f, t := round(br.up.URL)
		dWall, dFirst, dTotal = dWall+w, append(dFirst, f...), append(dTotal, t...)
		w, f, t = round(br.proxy.URL)
		pWall, pFirst, pTotal = pWall+w, append(pFirst, f...), append(pTotal, t...)
	}
	b.StopTimer()
	b.ReportMetric(float64(dWall.Microseconds())/float64(b.N)/1e3, "direct-round-ms")
	b.ReportMetric(float64(pWall.Microseconds())/float64(b.N)/1e3, "proxy-round-ms")
	b.ReportMetric(pct(dFirst, .99), "direct-ttfb-p99-µs")
	b.ReportMetric(pct(pFirst, .99), "proxy-ttfb-p99-µs")
	b.ReportMetric(pct(dTotal, .99)/1e3, "direct-stream-p99-ms")
	b.ReportMetric(pct(pTotal, .99)/1e3, "proxy-stream-p99-ms")
}
