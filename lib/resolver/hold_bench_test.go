package resolver

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terok-ai/terok-go/lib/clearance"
)

// BenchmarkHoldAllow measures, in hold mode, the time from an allow (the
// name into the policy, then the request decided, as the warden applies
// a verdict) to the held query's answer at the client over UDP: the
// waiter wakes, asks the upstream test server, Learn runs, the answer
// leaves. Goal: p50 and p99 under 20 ms (issue #13). The baseline, in
// the same run, is a cached answer's round trip; ratio-p50 is the allow's
// p50 over the baseline's.
func BenchmarkHoldAllow(b *testing.B) {
	hh := startHold(b, clearance.Config{}, nil)
	hh.Query(b, "udp", "allowed.test", dns.TypeA) // cached from now on
	var held, base []time.Duration
	i := 0
	for b.Loop() {
		i++
		name := "b" + strconv.Itoa(i) + ".wild.test"
		c := hh.ask("udp", name)
		hh.pending(b, name, 1)
		start := time.Now()
		hh.decide(b, name, clearance.Allow)
		r := <-c
		if r.err != nil || r.m.Rcode != dns.RcodeSuccess {
			b.Fatalf("%s: %v %v", name, r.m, r.err)
		}
		held = append(held, r.at.Sub(start))

		start = time.Now()
		hh.Query(b, "udp", "allowed.test", dns.TypeA)
		base = append(base, time.Since(start))
	}
	slices.Sort(held)
	slices.Sort(base)
	p := func(d []time.Duration, q int) float64 { return float64(d[(len(d)-1)*q/100].Microseconds()) / 1000 }
	b.ReportMetric(p(held, 50), "allow-p50-ms")
	b.ReportMetric(p(held, 99), "allow-p99-ms")
	b.ReportMetric(p(base, 50), "cached-p50-ms")
	b.ReportMetric(p(base, 99), "cached-p99-ms")
	b.ReportMetric(float64(held[len(held)/2])/float64(base[len(base)/2]), "ratio-p50")
}
