package notifier

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/notifier/notifytest"
)

// BenchmarkAttemptToPopup: from a blocked attempt entering the queue
// (clearsvc's Attempt) to the notification server receiving its Notify,
// through the warden's control socket, the notifier and a real
// dbus-daemon. It reports p50 and p99 in ms (goal: under 100 ms), and
// beside them, measured in the same run against the same server, a bare
// godbus Notify round trip (baseline-p50-ms) and p50's ratio to it. Each
// request is denied afterwards, untimed, so that the bounds never hold a
// popup back.
func BenchmarkAttemptToPopup(b *testing.B) {
	r := newRig(b, clearance.Config{}, task1)
	popups, finals := make(chan notifytest.Notification, 4), make(chan notifytest.Notification, 4)
	_ = r.srv.Stop()
	r.srv.OnNotify = func(n notifytest.Notification) {
		switch {
		case len(n.Actions) > 0 && n.ReplacesID == 0:
			popups <- n
		case n.Summary == "Denied":
			finals <- n
		}
	}
	if err := r.srv.Start(); err != nil {
		b.Fatal(err)
	}
	r.run(Options{})
	w := r.tasks[task1]
	ctx := context.Background()
	next := func(c chan notifytest.Notification) notifytest.Notification {
		select {
		case n := <-c:
			return n
		case <-time.After(10 * time.Second):
			b.Fatal("no notification")
		}
		return notifytest.Notification{}
	}

	var lat []time.Duration
	i := 0
	for b.Loop() {
		dest := fmt.Sprintf("h%d.bench.example", i)
		i++
		start := time.Now()
		w.attempt(dest, 0)
		n := next(popups)
		lat = append(lat, n.At.Sub(start))
		b.StopTimer()
		if !strings.Contains(n.Body, dest) {
			b.Fatalf("the popup for %s says %q", dest, n.Body)
		}
		ps, err := w.client.Pending(ctx)
		if err != nil || len(ps) != 1 {
			b.Fatalf("pending %v %v", ps, err)
		}
		if _, err := w.client.Decide(ctx, ps[0].ID, dest, clearance.Verdict{Action: clearance.Deny, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceCLI}); err != nil {
			b.Fatal(err)
		}
		next(finals)
		b.StartTimer()
	}

	// The baseline: a bare Notify round trip from another connection.
	conn, err := dbus.Connect(r.bus.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	obj := conn.Object(BusName, ObjectPath)
	var base []time.Duration
	for range max(len(lat), 100) {
		start := time.Now()
		var id uint32
		if err := obj.Call(Interface+".Notify", 0, AppName, uint32(0), "", "s", "b", []string{}, map[string]dbus.Variant{}, int32(-1)).Store(&id); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(start))
	}
	p50, p99, b50 := pct(lat, 50), pct(lat, 99), pct(base, 50)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(b50), "baseline-p50-ms")
	b.ReportMetric(float64(p50)/float64(b50), "p50/baseline")
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
