package endpoint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/gate"
)

// TestPlanPush: the policy's verdict per ref, then the push's own rules
// (the state's refusal, the announced size, atomic, push options), each
// refusing only what is not refused yet.
func TestPlanPush(t *testing.T) {
	const task = "a"
	create := gate.RefUpdate{Old: gate.ZeroID, New: oidA, Ref: "refs/heads/new"}
	mine := gate.RefUpdate{Old: oidA, New: oidB, Ref: "refs/heads/mine"}
	main := gate.RefUpdate{Old: oidA, New: oidB, Ref: "refs/heads/main"}
	owners := gate.Owners{"refs/heads/mine": {Task: task}}
	const (
		protected = "protected branch (the project's default branch); push to a new branch"
		atomic    = "atomic push: another ref was refused"
		options   = "push options are not accepted"
		busy      = "gate busy or broken; try again (the gate is busy)"
	)
	size := sizeReason(100)
	for _, tc := range []struct {
		name      string
		updates   []gate.RefUpdate
		caps      []string
		current   []string
		refusal   string
		limit     int64
		announced int64
		want      []string // the reasons, "" allowed
	}{
		{name: "policy per ref", updates: []gate.RefUpdate{create, mine, main}, current: []string{"", oidA, oidA},
			want: []string{"", "", protected}},
		{name: "stale", updates: []gate.RefUpdate{mine}, current: []string{oidB},
			want: []string{"stale info: the gate's branch is at 222222222222; fetch first"}},
		{name: "atomic, one refused", updates: []gate.RefUpdate{create, main}, caps: []string{"report-status", "atomic"},
			current: []string{"", oidA}, want: []string{atomic, protected}},
		{name: "atomic, none refused", updates: []gate.RefUpdate{create, mine}, caps: []string{"atomic"},
			current: []string{"", oidA}, want: []string{"", ""}},
		{name: "push options", updates: []gate.RefUpdate{create, main}, caps: []string{"push-options"},
			current: []string{"", oidA}, want: []string{options, protected}},
		{name: "announced over the limit", updates: []gate.RefUpdate{create, main}, current: []string{"", oidA},
			limit: 100, announced: 101, want: []string{size, protected}},
		{name: "announced at the limit", updates: []gate.RefUpdate{create}, current: []string{""},
			limit: 100, announced: 100, want: []string{""}},
		{name: "no limit", updates: []gate.RefUpdate{create}, current: []string{""}, announced: 1 << 40, want: []string{""}},
		{name: "size before atomic", updates: []gate.RefUpdate{create, mine}, caps: []string{"atomic"},
			current: []string{"", oidA}, limit: 100, announced: 200, want: []string{size, size}},
		{name: "lock not taken", updates: []gate.RefUpdate{create, mine}, refusal: busy, want: []string{busy, busy}},
		{name: "read failed part way", updates: []gate.RefUpdate{main, create}, current: []string{oidA},
			refusal: "gate error: broken", want: []string{protected, "gate error: broken"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := gate.Policy{DefaultBranch: "main", MaxPushSize: tc.limit}
			st := gate.PushState{Current: tc.current, Owners: owners, Refusal: tc.refusal}
			ds := planPush(task, &PushRequest{Updates: tc.updates, Caps: tc.caps}, p, st, tc.announced)
			var got []string
			for i, d := range ds {
				got = append(got, d.Reason)
				if d.Update != tc.updates[i] {
					t.Errorf("decision %d is for %+v, not %+v", i, d.Update, tc.updates[i])
				}
				if i < len(tc.current) && d.Current != tc.current[i] {
					t.Errorf("decision %d: cur %q, want %q", i, d.Current, tc.current[i])
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("reasons\n got %q\nwant %q", got, tc.want)
			}
			var wantAllowed []gate.RefUpdate
			for i, r := range tc.want {
				if r == "" {
					wantAllowed = append(wantAllowed, tc.updates[i])
				}
			}
			if a := allowedUpdates(ds); !slices.Equal(a, wantAllowed) {
				t.Errorf("allowed %+v, want %+v", a, wantAllowed)
			}
		})
	}
}

// readPkts decodes a response into readable lines: "flush", a pkt-line's
// text, or "BAND:text" per line of a side-band's payload (band 1 holds
// pkt-lines itself, decoded the same way).
func readPkts(t *testing.T, b []byte, sidebands bool) []string {
	t.Helper()
	var out []string
	var band1 bytes.Buffer
	endBand1 := func() {
		if band1.Len() > 0 {
			for _, l := range readPkts(t, band1.Bytes(), false) {
				out = append(out, "1:"+l)
			}
			band1.Reset()
		}
	}
	r := bufio.NewReader(bytes.NewReader(b))
	for {
		p, err := readPkt(r)
		switch {
		case err == errFlush:
			endBand1()
			out = append(out, "flush")
			continue
		case err == io.ErrUnexpectedEOF && r.Buffered() == 0:
			endBand1()
			return out
		case err != nil:
			t.Fatalf("%v in %q", err, b)
		}
		if !sidebands {
			out = append(out, strings.TrimSuffix(string(p), "\n"))
			continue
		}
		if p[0] == 1 {
			band1.Write(p[1:])
			continue
		}
		endBand1()
		out = append(out, fmt.Sprintf("%d:%s", p[0], strings.TrimSuffix(string(p[1:]), "\n")))
	}
}

// TestPushResponse: every refusal as a progress line (side-band only, not
// an atomic echo) and as its ref's ng status, replacing git's line.
func TestPushResponse(t *testing.T) {
	refused := func(ref, reason string) *gate.Decision {
		return &gate.Decision{Update: gate.RefUpdate{Old: oidA, New: oidB, Ref: ref}, Reason: reason}
	}
	ok := &gate.Decision{Update: gate.RefUpdate{Old: oidA, New: oidB, Ref: "refs/heads/ok"}}
	git := func(lines ...string) *Statuses { return &Statuses{Unpack: "ok", Lines: lines} }
	for _, tc := range []struct {
		name   string
		caps   []string
		ds     []*gate.Decision
		report *Statuses
		want   []string
	}{
		{name: "report, no side-band", caps: []string{"report-status"},
			ds:     []*gate.Decision{ok, refused("refs/heads/main", "protected")},
			report: git("ok refs/heads/ok"),
			want:   []string{"unpack ok", "ok refs/heads/ok", "ng refs/heads/main protected", "flush"}},
		{name: "side-band-64k", caps: []string{"report-status", "side-band-64k"},
			ds:     []*gate.Decision{ok, refused("refs/heads/main", "protected")},
			report: git("ok refs/heads/ok"),
			want: []string{"2:terok-gate: refs/heads/main: protected",
				"1:unpack ok", "1:ok refs/heads/ok", "1:ng refs/heads/main protected", "1:flush", "flush"}},
		{name: "atomic echo is no progress line", caps: []string{"report-status", "side-band-64k", "atomic"},
			ds:     []*gate.Decision{refused("refs/heads/x", "atomic push: another ref was refused"), refused("refs/heads/main", "protected")},
			report: git(),
			want: []string{"2:terok-gate: refs/heads/main: protected", "1:unpack ok",
				"1:ng refs/heads/x atomic push: another ref was refused", "1:ng refs/heads/main protected", "1:flush", "flush"}},
		{name: "git's line for a refused ref is replaced, with its options", caps: []string{"report-status-v2"},
			ds:     []*gate.Decision{refused("refs/heads/late", "gate error: x"), ok},
			report: git("ok refs/heads/late", "option refname refs/heads/late", "option new-oid "+oidB, "ok refs/heads/ok"),
			want:   []string{"unpack ok", "ok refs/heads/ok", "ng refs/heads/late gate error: x", "flush"}},
		{name: "git's failure kept", caps: []string{"report-status"},
			ds:     []*gate.Decision{refused("refs/heads/ok", "unpack failed: index-pack abnormal exit")},
			report: &Statuses{Unpack: "index-pack abnormal exit", Lines: []string{"ng refs/heads/ok unpacker error"}},
			want:   []string{"unpack index-pack abnormal exit", "ng refs/heads/ok unpack failed: index-pack abnormal exit", "flush"}},
		{name: "no report asked", caps: []string{"side-band-64k"},
			ds: []*gate.Decision{refused("refs/heads/main", "protected")}, report: git(),
			want: []string{"2:terok-gate: refs/heads/main: protected", "flush"}},
		{name: "no report from git", caps: []string{"report-status", "side-band-64k"},
			ds:   []*gate.Decision{refused("refs/heads/main", "protected")},
			want: []string{"2:terok-gate: refs/heads/main: protected", "flush"}},
		{name: "nothing asked", ds: []*gate.Decision{refused("refs/heads/main", "protected")}, report: git()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &PushRequest{Caps: tc.caps}
			var before []string
			if tc.report != nil {
				before = slices.Clone(tc.report.Lines)
			}
			got := readPkts(t, pushResponse(req, tc.ds, tc.report), req.Sideband())
			if !slices.Equal(got, tc.want) {
				t.Errorf("response\n got %q\nwant %q", got, tc.want)
			}
			if tc.report != nil && !slices.Equal(tc.report.Lines, before) {
				t.Errorf("git's report changed: %q", tc.report.Lines)
			}
		})
	}
}

// TestPushResponseFrames: side-band packets are at most 1000 bytes, or
// 65520 with side-band-64k.
func TestPushResponseFrames(t *testing.T) {
	long := strings.Repeat("x", 3000)
	ds := []*gate.Decision{{Update: gate.RefUpdate{Old: oidA, New: oidB, Ref: "refs/heads/main"}, Reason: long}}
	for _, tc := range []struct {
		cap     string
		packets int
	}{{"side-band", 4}, {"side-band-64k", 1}} {
		b := pushResponse(&PushRequest{Caps: []string{tc.cap}}, ds, nil)
		r := bufio.NewReader(bytes.NewReader(b))
		n, text := 0, ""
		for {
			p, err := readPkt(r)
			if err != nil {
				break
			}
			if p[0] != 2 || len(p)+4 > 1000 && tc.cap == "side-band" {
				t.Fatalf("%s: packet %d: band %d, %d bytes", tc.cap, n, p[0], len(p)+4)
			}
			n++
			text += string(p[1:])
		}
		if n != tc.packets || text != "terok-gate: refs/heads/main: "+long+"\n" {
			t.Errorf("%s: %d packets (want %d), text of %d bytes", tc.cap, n, tc.packets, len(text))
		}
	}
}

// TestNotApplied: why an allowed update did not apply, in order of
// precedence.
func TestNotApplied(t *testing.T) {
	const ref = "refs/heads/x"
	failed := &Statuses{Unpack: "index-pack abnormal exit", Lines: []string{"ng " + ref + " unpacker error"}}
	for _, tc := range []struct {
		report   *Statuses
		oversize string
		readErr  error
		want     string
	}{
		{report: &Statuses{Unpack: "ok", Lines: []string{"ng " + ref + " failed to lock"}}, want: "failed to lock"},
		{report: &Statuses{Unpack: "broken", Lines: []string{"ok " + ref}}, want: "unpack failed: broken"},
		{report: &Statuses{Unpack: "broken"}, want: "unpack failed: broken"},
		{report: &Statuses{Unpack: "ok", Lines: []string{"ok " + ref}}, want: "not applied"},
		{report: &Statuses{Unpack: "ok"}, want: "not applied"},
		{want: "not applied"},
		{report: failed, oversize: "too big", want: "too big"},
		{report: failed, oversize: "too big", readErr: errors.New("bad ref"), want: "gate error: bad ref"},
		{readErr: errors.New("bad ref"), want: "gate error: bad ref"},
	} {
		if got := notApplied(tc.report, ref, tc.oversize, tc.readErr); got != tc.want {
			t.Errorf("report %+v, oversize %q, error %v: got %q, want %q", tc.report, tc.oversize, tc.readErr, got, tc.want)
		}
	}
}
