package clearance

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkAddRepeat: an attempt folded into its pending request.
func BenchmarkAddRepeat(b *testing.B) {
	q := NewQueue(Config{Task: "t", TTL: time.Hour})
	defer q.Close()
	a := Attempt{Dest: "example.com", Proto: ProtoDNSName, Kind: KindRefused}
	for b.Loop() {
		if _, _, err := q.Add(a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddNew: an attempt that becomes a request of its own (its id
// from crypto/rand and a pending event to one subscriber included).
func BenchmarkAddNew(b *testing.B) {
	names := make([]Attempt, 4096)
	for i := range names {
		names[i] = Attempt{Dest: fmt.Sprintf("n%d.example.com", i), Proto: ProtoDNSName, Kind: KindRefused}
	}
	q := NewQueue(Config{Task: "t", TTL: time.Hour, MaxPending: len(names), Buffer: 1 << 20})
	defer q.Close()
	sub, _ := q.Subscribe()
	i := 0
	for b.Loop() {
		if i == len(names) { // start again with an empty queue, untimed
			b.StopTimer()
			sub.Close()
			q.Close()
			q = NewQueue(Config{Task: "t", TTL: time.Hour, MaxPending: len(names), Buffer: 1 << 20})
			sub, _ = q.Subscribe()
			i = 0
			b.StartTimer()
		}
		if _, isNew, err := q.Add(names[i]); err != nil || !isNew {
			b.Fatal(err, isNew)
		}
		i++
	}
}

// BenchmarkAddOverflow: an attempt to a new destination beyond the bound.
func BenchmarkAddOverflow(b *testing.B) {
	q := NewQueue(Config{Task: "t", TTL: time.Hour})
	defer q.Close()
	i := 0
	for b.Loop() {
		if _, _, err := q.Add(Attempt{Dest: fmt.Sprintf("n%d.example.com", i), Proto: ProtoDNSName, Kind: KindRefused}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDecideWait: from Decide to the held caller's Wait returning,
// the queue's share of "from the Allow click to the held query's answer".
// It reports the wake-up's p50 and p99 in ns (goal: well under 20 ms).
func BenchmarkDecideWait(b *testing.B) {
	q := NewQueue(Config{Task: "t", TTL: time.Hour})
	defer q.Close()
	v := Verdict{Action: Allow, Scope: ScopeOnce, Who: 1000, Surface: SurfaceNotify}
	var lat []time.Duration
	for b.Loop() {
		r, _, err := q.Add(Attempt{Dest: "example.com", Proto: ProtoDNSName, Kind: KindRefused})
		if err != nil {
			b.Fatal(err)
		}
		woke := make(chan time.Time, 1)
		go func() {
			if _, err := q.Wait(context.Background(), r.ID); err != nil {
				b.Error(err)
			}
			woke <- time.Now()
		}()
		for { // until the waiter holds the request
			q.mu.Lock()
			n := q.byID[r.ID].waiters
			q.mu.Unlock()
			if n == 1 {
				break
			}
			time.Sleep(time.Microsecond)
		}
		start := time.Now()
		if _, err := q.Decide(r.ID, r.Dest, v); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-woke).Sub(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
