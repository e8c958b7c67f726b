package clearance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a queue's clock that moves only when the test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestQueue(t *testing.T, cfg Config) (*Queue, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if cfg.Task == "" {
		cfg.Task, cfg.Project = "t1", "proj"
	}
	if cfg.TTL == 0 {
		cfg.TTL = time.Hour // the background sweep must not interfere
	}
	cfg.Now = clk.Now
	q := NewQueue(cfg)
	t.Cleanup(q.Close)
	return q, clk
}

func mustAdd(t *testing.T, q *Queue, a Attempt) (Request, bool) {
	t.Helper()
	r, isNew, err := q.Add(a)
	if err != nil {
		t.Fatalf("Add(%+v): %v", a, err)
	}
	return r, isNew
}

func name(n string) Attempt { return Attempt{Dest: n, Proto: ProtoDNSName, Kind: KindRefused} }

func TestAddMergesRepeats(t *testing.T) {
	q, clk := newTestQueue(t, Config{})
	first := clk.Now()
	a := Attempt{Dest: "192.0.2.7", Port: 443, Proto: ProtoTCP, Kind: KindBlocked}
	r1, isNew := mustAdd(t, q, a)
	if !isNew || r1.Count != 1 || r1.Task != "t1" || r1.Project != "proj" || !ValidID(r1.ID) {
		t.Fatalf("first Add = %+v, new %v", r1, isNew)
	}
	clk.Advance(time.Second)
	mustAdd(t, q, a)
	clk.Advance(time.Second)
	r3, isNew := mustAdd(t, q, a)
	if isNew || r3.ID != r1.ID || r3.Count != 3 || !r3.FirstSeen.Equal(first) || !r3.LastSeen.Equal(first.Add(2*time.Second)) {
		t.Fatalf("third Add = %+v, new %v; want the first request, count 3", r3, isNew)
	}
	// Another port, another protocol, another destination: requests of their own.
	for _, b := range []Attempt{
		{Dest: "192.0.2.7", Port: 80, Proto: ProtoTCP, Kind: KindBlocked},
		{Dest: "192.0.2.7", Port: 443, Proto: ProtoUDP, Kind: KindBlocked},
		{Dest: "192.0.2.8", Port: 443, Proto: ProtoTCP, Kind: KindBlocked},
	} {
		if r, isNew := mustAdd(t, q, b); !isNew || r.ID == r1.ID {
			t.Errorf("Add(%+v) = %+v, new %v; want a new request", b, r, isNew)
		}
	}
	if n := len(q.Pending()); n != 4 {
		t.Errorf("%d pending, want 4", n)
	}
	// An attempt stamped earlier than the last one does not move last seen back.
	old := a
	old.Time = first
	if r, _ := mustAdd(t, q, old); !r.LastSeen.Equal(first.Add(2*time.Second)) || r.Count != 4 {
		t.Errorf("late attempt: %+v", r)
	}
}

func TestAddRefusesInvalid(t *testing.T) {
	q, _ := newTestQueue(t, Config{})
	long := make([]byte, MaxDest+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, a := range []Attempt{
		{Dest: "", Proto: ProtoTCP, Kind: KindBlocked},
		{Dest: string(long), Proto: ProtoDNSName, Kind: KindRefused},
		{Dest: "x", Proto: "icmp", Kind: KindBlocked},
		{Dest: "x", Proto: ProtoTCP, Kind: KindOverflow},
		{Dest: "x", Proto: ProtoTCP, Kind: ""},
	} {
		if _, _, err := q.Add(a); !errors.Is(err, ErrInvalidAttempt) {
			t.Errorf("Add(%.40v) = %v, want ErrInvalidAttempt", a, err)
		}
	}
	if n := len(q.Pending()); n != 0 {
		t.Errorf("%d pending after refused attempts", n)
	}
}

// A task flooding 10,000 random names: the queue keeps MaxPending requests
// and one overflow request, its memory of overflowed names stays bounded,
// the counts are exact and the events few.
func TestFloodIsBounded(t *testing.T) {
	const max, flood = 64, 10_000
	q, _ := newTestQueue(t, Config{MaxPending: max, Buffer: 4 * flood})
	sub, _ := q.Subscribe()
	for i := range flood {
		mustAdd(t, q, name(fmt.Sprintf("r%08x.flood.example", i*2654435761)))
	}
	// Repeats of names already counted, pending or overflowed (and
	// remembered: the first overflowMemory*max of them), are not more.
	mustAdd(t, q, name(fmt.Sprintf("r%08x.flood.example", 0)))
	mustAdd(t, q, name(fmt.Sprintf("r%08x.flood.example", max*2654435761)))

	pending := q.Pending()
	if len(pending) != max+1 {
		t.Fatalf("%d pending, want %d and the overflow", len(pending), max)
	}
	var of *Request
	for i := range pending {
		if pending[i].Kind == KindOverflow {
			of = &pending[i]
		}
	}
	if of == nil || of.More != flood-max || of.Count != flood-max+1 || of.Dest != "" {
		t.Fatalf("overflow request = %+v, want more %d count %d", of, flood-max, flood-max+1)
	}
	q.mu.Lock()
	sizes := []int{len(q.byID), len(q.byKey), len(q.ofSeen)}
	q.mu.Unlock()
	if sizes[0] != max+1 || sizes[1] != max || sizes[2] > overflowMemory*max {
		t.Errorf("queue sizes %v, want %d, %d, <= %d", sizes, max+1, max, overflowMemory*max)
	}

	sub.Close()
	counts := map[EventType]int{}
	for ev := range sub.C {
		counts[ev.Type]++
	}
	// One pending event per request; updates only at powers of two of the
	// overflow's count (the clock stands still): log2(10,000) of them.
	if counts[EventPending] != max+1 || counts[EventUpdated] > 14 || counts[EventUpdated] == 0 {
		t.Errorf("events %v, want %d pending and at most 14 updated", counts, max+1)
	}

	// A much bigger flood still keeps the overflow memory bounded.
	for i := range 5 * overflowMemory * max {
		mustAdd(t, q, name(fmt.Sprintf("s%d.flood.example", i)))
	}
	q.mu.Lock()
	n := len(q.ofSeen)
	q.mu.Unlock()
	if n != overflowMemory*max {
		t.Errorf("overflow memory %d, want exactly its bound %d", n, overflowMemory*max)
	}
}

func TestUpdatesAreThrottled(t *testing.T) {
	q, clk := newTestQueue(t, Config{UpdateEvery: time.Second})
	sub, _ := q.Subscribe()
	a := name("example.com")
	for range 9 { // counts 1..9: pending at 1, updated at 2, 4, 8
		mustAdd(t, q, a)
	}
	clk.Advance(time.Second)
	mustAdd(t, q, a) // 10, a second after the last event: updated
	mustAdd(t, q, a) // 11: not
	sub.Close()
	var got []string
	for ev := range sub.C {
		got = append(got, fmt.Sprintf("%s:%d", ev.Type, ev.Count))
	}
	if want := "[pending:1 updated:2 updated:4 updated:8 updated:10]"; fmt.Sprint(got) != want {
		t.Errorf("events %v, want %s", got, want)
	}
}

var allowOnce = Verdict{Action: Allow, Scope: ScopeOnce, Who: 1000, Surface: SurfaceCLI}

func TestDecideRefusals(t *testing.T) {
	q, _ := newTestQueue(t, Config{MaxPending: 1})
	r, _ := mustAdd(t, q, name("example.com"))
	of, _ := mustAdd(t, q, name("other.example"))
	if of.Kind != KindOverflow {
		t.Fatalf("second name with MaxPending 1: %+v, want the overflow", of)
	}
	for _, c := range []struct {
		what, id, dest string
		v              Verdict
		want           error
	}{
		{"unknown id", "aaaaaaaaaaaaaaaaaaaaaaaaaa", "example.com", allowOnce, ErrUnknownID},
		{"empty id", "", "example.com", allowOnce, ErrUnknownID},
		{"dest in another case", r.ID, "Example.com", allowOnce, ErrDestMismatch},
		{"dest with a final dot", r.ID, "example.com.", allowOnce, ErrDestMismatch},
		{"another dest", r.ID, "other.example", allowOnce, ErrDestMismatch},
		{"overflow request", of.ID, "", allowOnce, ErrOverflow},
		{"no action", r.ID, r.Dest, Verdict{Scope: ScopeOnce, Surface: SurfaceCLI}, ErrInvalidAction},
		{"bad action", r.ID, r.Dest, Verdict{Action: "maybe", Scope: ScopeOnce, Surface: SurfaceCLI}, ErrInvalidAction},
		{"bad scope", r.ID, r.Dest, Verdict{Action: Allow, Scope: "forever", Surface: SurfaceCLI}, ErrInvalidScope},
		{"once with a duration", r.ID, r.Dest, Verdict{Action: Allow, Scope: ScopeOnce, Duration: time.Hour, Surface: SurfaceCLI}, ErrInvalidScope},
		{"for-duration without one", r.ID, r.Dest, Verdict{Action: Allow, Scope: ScopeDuration, Surface: SurfaceCLI}, ErrInvalidScope},
		{"deny for a duration", r.ID, r.Dest, Verdict{Action: Deny, Scope: ScopeDuration, Duration: time.Hour, Surface: SurfaceCLI}, ErrInvalidScope},
		{"bad surface", r.ID, r.Dest, Verdict{Action: Deny, Scope: ScopeOnce, Surface: "email"}, ErrInvalidSurface},
	} {
		if _, err := q.Decide(c.id, c.dest, c.v); !errors.Is(err, c.want) {
			t.Errorf("%s: Decide = %v, want %v", c.what, err, c.want)
		}
	}
	// Nothing refused changed anything: the request is still pending.
	if n := len(q.Pending()); n != 2 {
		t.Fatalf("%d pending after refused verdicts, want 2", n)
	}
	got, err := q.Decide(r.ID, "example.com", Verdict{Action: Allow, Scope: ScopeDuration, Duration: time.Hour, Who: 1000, Surface: SurfaceNotify})
	if err != nil || got.ID != r.ID {
		t.Fatalf("Decide = %+v, %v", got, err)
	}
	if _, err := q.Decide(r.ID, "example.com", allowOnce); !errors.Is(err, ErrStale) {
		t.Errorf("second verdict: %v, want ErrStale", err)
	}
	// The same destination again is a new request with a new id.
	r2, isNew := mustAdd(t, q, name("example.com"))
	if !isNew || r2.ID == r.ID {
		t.Errorf("after the verdict: %+v, new %v; want a new request", r2, isNew)
	}
}

func TestIDBoundToTask(t *testing.T) {
	q1, _ := newTestQueue(t, Config{Task: "t1"})
	q2, _ := newTestQueue(t, Config{Task: "t2"})
	r1, _ := mustAdd(t, q1, name("example.com"))
	mustAdd(t, q2, name("example.com"))
	if _, err := q2.Decide(r1.ID, "example.com", allowOnce); !errors.Is(err, ErrUnknownID) {
		t.Errorf("t1's id on t2's queue: %v, want ErrUnknownID", err)
	}
}

func TestWaitGetsTheVerdict(t *testing.T) {
	q, _ := newTestQueue(t, Config{})
	r, _ := mustAdd(t, q, name("example.com"))
	const waiters = 10
	results := make(chan error, waiters)
	var started sync.WaitGroup
	for range waiters {
		started.Add(1)
		go func() {
			started.Done()
			v, err := q.Wait(context.Background(), r.ID)
			if err == nil && (v.Action != Deny || v.Who != 42) {
				err = fmt.Errorf("verdict %+v", v)
			}
			results <- err
		}()
	}
	started.Wait()
	waitFor(t, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return q.byID[r.ID].waiters == waiters })
	if _, err := q.Decide(r.ID, r.Dest, Verdict{Action: Deny, Scope: ScopeOnce, Who: 42, Surface: SurfaceTerminal}); err != nil {
		t.Fatal(err)
	}
	for range waiters {
		select {
		case err := <-results:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter did not wake")
		}
	}
	// A late Wait still gets the verdict; an unknown id does not wait.
	if v, err := q.Wait(context.Background(), r.ID); err != nil || v.Action != Deny {
		t.Errorf("late Wait = %+v, %v", v, err)
	}
	if _, err := q.Wait(context.Background(), "nosuchid"); !errors.Is(err, ErrUnknownID) {
		t.Errorf("Wait(unknown) = %v", err)
	}
}

func TestWaitEndsWithContextAndClose(t *testing.T) {
	q, _ := newTestQueue(t, Config{})
	r, _ := mustAdd(t, q, name("example.com"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := q.Wait(ctx, r.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait past its deadline = %v", err)
	}
	if n := len(q.Pending()); n != 1 {
		t.Fatalf("the request left with the waiter: %d pending", n)
	}
	done := make(chan error, 1)
	go func() { _, err := q.Wait(context.Background(), r.ID); done <- err }()
	waitFor(t, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return q.byID[r.ID].waiters == 1 })
	q.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Wait across Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a waiter")
	}
	if _, _, err := q.Add(name("x.example")); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close = %v", err)
	}
}

func TestExpiry(t *testing.T) {
	const ttl = time.Minute
	q, clk := newTestQueue(t, Config{TTL: ttl, MaxPending: 2})
	sub, _ := q.Subscribe()
	quiet, _ := mustAdd(t, q, name("quiet.example"))
	held, _ := mustAdd(t, q, name("held.example"))
	of, _ := mustAdd(t, q, name("third.example"))

	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	go func() { _, err := q.Wait(ctx, held.ID); waited <- err }()
	waitFor(t, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return q.byID[held.ID].waiters == 1 })

	clk.Advance(ttl - time.Second)
	q.Sweep()
	if n := len(q.Pending()); n != 3 {
		t.Fatalf("%d pending before the TTL, want 3", n)
	}
	clk.Advance(time.Second)
	q.Sweep()
	pending := q.Pending()
	if len(pending) != 1 || pending[0].ID != held.ID {
		t.Fatalf("after the TTL pending = %+v, want only the held request", pending)
	}
	if _, err := q.Decide(quiet.ID, quiet.Dest, allowOnce); !errors.Is(err, ErrStale) {
		t.Errorf("verdict on an expired request: %v, want ErrStale", err)
	}
	if _, err := q.Wait(context.Background(), quiet.ID); !errors.Is(err, ErrStale) {
		t.Errorf("Wait on an expired request: %v, want ErrStale", err)
	}
	// The overflow expired too: the next new name has a request of its own.
	if r, isNew := mustAdd(t, q, name("fourth.example")); !isNew || r.Kind != KindRefused {
		t.Errorf("after the overflow expired: %+v", r)
	}
	cancel()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Errorf("held Wait let go: %v, want context.Canceled", err)
	}
	q.Sweep()
	if _, err := q.Decide(held.ID, held.Dest, allowOnce); !errors.Is(err, ErrStale) {
		t.Errorf("held request once let go: %v, want expired (ErrStale)", err)
	}
	sub.Close()
	var expired []string
	for ev := range sub.C {
		if ev.Type == EventExpired {
			expired = append(expired, ev.ID)
		}
	}
	if want := fmt.Sprint([]string{quiet.ID, of.ID, held.ID}); fmt.Sprint(expired) != want {
		t.Errorf("expired events %v, want %v", expired, want)
	}
}

// The queue's own sweep expires requests without anyone calling Sweep.
func TestBackgroundSweep(t *testing.T) {
	q := NewQueue(Config{Task: "t", TTL: 30 * time.Millisecond})
	defer q.Close()
	sub, _ := q.Subscribe()
	if _, _, err := q.Add(name("example.com")); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-sub.C:
			if ev.Type == EventExpired {
				return
			}
		case <-deadline:
			t.Fatal("no expired event")
		}
	}
}

func TestSlowSubscriberIsCut(t *testing.T) {
	q, _ := newTestQueue(t, Config{Buffer: 4})
	slow, _ := q.Subscribe()
	fast, _ := q.Subscribe()
	var got []Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range fast.C {
			got = append(got, ev)
		}
	}()
	added := make(chan struct{})
	go func() {
		defer close(added)
		for i := range 10 {
			_, _, _ = q.Add(name(fmt.Sprintf("n%d.example", i)))
			// Let the fast reader keep up (its buffer is 4 too).
			for deadline := time.Now().Add(5 * time.Second); len(fast.c) > 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	select {
	case <-added:
	case <-time.After(5 * time.Second):
		t.Fatal("Add blocked on a slow subscriber")
	}
	n := 0
	for range slow.C {
		n++
	}
	if n != 4 || !errors.Is(slow.Err(), ErrLagged) {
		t.Errorf("slow subscriber: %d events then %v; want its 4 buffered, then ErrLagged", n, slow.Err())
	}
	fast.Close()
	<-done
	if len(got) != 10 || fast.Err() != nil {
		t.Errorf("fast subscriber: %d events, %v; want all 10", len(got), fast.Err())
	}
}

func TestSubscribeReturnsPending(t *testing.T) {
	q, _ := newTestQueue(t, Config{})
	r, _ := mustAdd(t, q, name("example.com"))
	sub, pending := q.Subscribe()
	defer sub.Close()
	if len(pending) != 1 || pending[0].ID != r.ID {
		t.Fatalf("Subscribe's pending = %+v", pending)
	}
	select {
	case ev := <-sub.C:
		t.Fatalf("an event from before the subscription: %+v", ev)
	default:
	}
	q.Close()
	if _, ok := <-sub.C; ok || !errors.Is(sub.Err(), ErrClosed) {
		t.Errorf("after Close: channel open %v, err %v", ok, sub.Err())
	}
	after, _ := q.Subscribe()
	if _, ok := <-after.C; ok || !errors.Is(after.Err(), ErrClosed) {
		t.Errorf("Subscribe on a closed queue: %v", after.Err())
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		if !ValidID(id) || len(id) != 26 || seen[id] {
			t.Fatalf("id %q: valid %v, repeated %v", id, ValidID(id), seen[id])
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "abc", "aaaaaaaaaaaaaaaaaaaaaaaaa1", "AAAAAAAAAAAAAAAAAAAAAAAAAA", "aaaaaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaa-a"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

// Concurrent use: Add, Decide, Wait, Subscribe and Sweep at once (run it
// with -race).
func TestConcurrentUse(t *testing.T) {
	q, _ := newTestQueue(t, Config{MaxPending: 16, Buffer: 8})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				r, _, err := q.Add(name(fmt.Sprintf("n%d.example", (w*7+i)%40)))
				if err != nil {
					t.Error(err)
					return
				}
				if r.Kind == KindOverflow {
					continue
				}
				if i%3 == 0 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					_, _ = q.Wait(ctx, r.ID)
					cancel()
				} else {
					_, _ = q.Decide(r.ID, r.Dest, allowOnce)
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			sub, _ := q.Subscribe()
			for range 3 {
				<-sub.C
			}
			sub.Close()
			q.Sweep()
		}
	})
	wg.Wait()
	for _, r := range q.Pending() {
		if r.Kind != KindOverflow {
			if _, err := q.Decide(r.ID, r.Dest, allowOnce); err != nil {
				t.Errorf("leftover %s: %v", r.Dest, err)
			}
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
	}
}

// Check refuses what Decide refuses, with the same errors, and decides
// nothing: the request stays pending and no event is sent.
func TestCheckIsDecideWithoutDeciding(t *testing.T) {
	q, _ := newTestQueue(t, Config{MaxPending: 1})
	r, _ := mustAdd(t, q, name("example.com"))
	of, _ := mustAdd(t, q, name("other.example"))
	sub, _ := q.Subscribe()
	defer sub.Close()
	for _, c := range []struct {
		id, dest string
		v        Verdict
		want     error
	}{
		{"aaaaaaaaaaaaaaaaaaaaaaaaaa", "example.com", allowOnce, ErrUnknownID},
		{r.ID, "Example.com", allowOnce, ErrDestMismatch},
		{of.ID, "", allowOnce, ErrOverflow},
		{r.ID, r.Dest, Verdict{Action: Deny, Scope: ScopeDuration, Duration: time.Hour, Surface: SurfaceCLI}, ErrInvalidScope},
		{r.ID, r.Dest, allowOnce, nil},
	} {
		got, err := q.Check(c.id, c.dest, c.v)
		if !errors.Is(err, c.want) || err == nil && got.ID != r.ID {
			t.Errorf("Check(%s, %s) = %+v, %v; want %v", c.id, c.dest, got, err, c.want)
		}
	}
	if n := len(q.Pending()); n != 2 {
		t.Fatalf("%d pending after Check, want 2", n)
	}
	select {
	case ev := <-sub.C:
		t.Fatalf("Check sent %+v", ev)
	default:
	}
	if _, err := q.Decide(r.ID, r.Dest, allowOnce); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Check(r.ID, r.Dest, allowOnce); !errors.Is(err, ErrStale) {
		t.Errorf("Check after the verdict: %v, want ErrStale", err)
	}
}
