package endpoint

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/gate"
)

// drainSlack is how far past the size limit a refused push is still read,
// so that the client gets to read the refusal.
const drainSlack = 1 << 20

// receivePack serves a push. It reads the command list, has the mirror
// read the refs and owners under its lock, decides every update with
// planPush, carries the decisions out with receive (backups, then git
// receive-pack with the allowed commands), has the mirror settle what git
// did, and answers with pushResponse. The lock is held until the answer is
// written.
func (e *Endpoint) receivePack(w http.ResponseWriter, r *http.Request, task string) {
	m := e.Mirror
	if err := m.Check(); err != nil {
		http.Error(w, "terok-gate: "+err.Error(), http.StatusNotFound)
		return
	}
	ctx, cancel := e.pushDeadline(w, r)
	defer cancel()

	body, err := requestBody(r)
	if err != nil {
		http.Error(w, "terok-gate: "+err.Error(), http.StatusBadRequest)
		return
	}
	cr, br := pushReader(body)
	req, err := ReadPushRequest(br)
	if err != nil {
		e.event(gate.AuditEntry{Time: time.Now().UTC(), Type: "push", Task: task, Reason: "bad push request: " + err.Error(), Remote: r.RemoteAddr})
		http.Error(w, "terok-gate: bad push request: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-git-receive-pack-result")
	if len(req.Updates) == 0 {
		return // git's probe of a large push, or an empty one
	}
	announced := int64(0) // the pack's size as the request announces it; 0 unknown
	if r.ContentLength > 0 {
		announced = r.ContentLength - (cr.n - int64(br.Buffered()))
	}

	st, unlock := m.LockForPush(ctx, req.Updates, orDefault(e.LockWait, 2*time.Minute))
	defer unlock()
	ds := planPush(task, req, m.Policy, st, announced)
	report, packBytes := e.receive(ctx, w, req, ds, br)
	oversize := ""
	if limit := m.Policy.MaxPushSize; limit > 0 && packBytes > limit {
		oversize = sizeReason(limit)
	}
	why := func(ref string, readErr error) string { return notApplied(report, ref, oversize, readErr) }
	e.event(m.SettlePush(ctx, task, ds, why, r.RemoteAddr)...)
	_, _ = w.Write(pushResponse(req, ds, report)) // a failed write is a client gone away
}

// pushDeadline bounds a push (PushTimeout, default 30 minutes): the
// connection's reads and writes, and the context of what it runs.
func (e *Endpoint) pushDeadline(w http.ResponseWriter, r *http.Request) (context.Context, context.CancelFunc) {
	// A connection that cannot take full duplex or deadlines (not HTTP/1)
	// is still bounded: what the push runs ends with the context.
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex()
	deadline := time.Now().Add(orDefault(e.PushTimeout, 30*time.Minute))
	_ = rc.SetReadDeadline(deadline)
	_ = rc.SetWriteDeadline(deadline)
	return context.WithDeadline(r.Context(), deadline)
}

// planPush decides every update of a push, touching nothing: first the
// policy's verdict on each against the refs and owners as they are, then
// the push's own rules, each refusing what is not refused yet — the
// state's refusal, when it could not be read; a pack announced (size, 0
// unknown) as larger than the limit; an atomic push, whole, when one ref
// is refused; push options, which are not accepted. It returns one
// decision per update, in the request's order; those without a reason go
// to git.
func planPush(task string, req *PushRequest, p gate.Policy, st gate.PushState, announced int64) []*gate.Decision {
	ds := make([]*gate.Decision, len(req.Updates))
	for i, u := range req.Updates {
		ds[i] = &gate.Decision{Update: u}
		if i < len(st.Current) {
			ds[i].Current = st.Current[i]
			ds[i].Reason = p.Decide(task, u, ds[i].Current, st.Owners)
		}
	}
	if st.Refusal != "" {
		refuseAll(ds, st.Refusal)
	}
	if p.MaxPushSize > 0 && announced > p.MaxPushSize {
		refuseAll(ds, sizeReason(p.MaxPushSize))
	}
	if req.Has("atomic") && slices.ContainsFunc(ds, func(d *gate.Decision) bool { return d.Reason != "" }) {
		refuseAll(ds, "atomic push: another ref was refused")
	}
	if req.Has("push-options") {
		refuseAll(ds, "push options are not accepted")
	}
	return ds
}

// refuseAll refuses, with reason, every update not refused yet.
func refuseAll(ds []*gate.Decision, reason string) {
	for _, d := range ds {
		if d.Reason == "" {
			d.Reason = reason
		}
	}
}

// allowedUpdates are the updates of ds without a reason, in order.
func allowedUpdates(ds []*gate.Decision) []gate.RefUpdate {
	var allowed []gate.RefUpdate
	for _, d := range ds {
		if d.Reason == "" {
			allowed = append(allowed, d.Update)
		}
	}
	return allowed
}

// receive carries out a push's decisions. With no update allowed, git is
// not run and the rest of the body is read (up to the limit and some
// slack), so that the client reads the answer rather than a broken pipe.
// Otherwise the tips the allowed updates may overwrite are backed up, and
// git receive-pack gets the allowed commands and the pack; when the
// backup fails every update is refused instead. It returns git's report
// (nil when the client asked for none) and the size of the pack.
func (e *Endpoint) receive(ctx context.Context, w http.ResponseWriter, req *PushRequest, ds []*gate.Decision, pack *bufio.Reader) (*Statuses, int64) {
	drainMax := int64(4 << 30)
	if limit := e.Mirror.Policy.MaxPushSize; limit > 0 {
		drainMax = limit + drainSlack
	}
	allowed := allowedUpdates(ds)
	if len(allowed) == 0 {
		n, _ := drain(pack, drainMax)
		if req.ReportStatus() {
			return &Statuses{Unpack: "ok"}, n
		}
		return nil, n
	}
	if refusal := e.Mirror.BackupBeforePush(ctx, ds); refusal != "" {
		refuseAll(ds, refusal)
		drain(pack, drainMax)
		return &Statuses{Unpack: "ok"}, 0
	}
	return e.runReceivePack(ctx, w, req, allowed, pack, drainMax)
}

// pushResponse is the answer to a push after git's report (nil when there
// is none): every refusal readable twice, as a "remote: terok-gate: ..."
// progress line (but not the echo of an atomic push's) and as the ref's
// "ng <ref> <reason>" status, which replaces git's own line for that ref
// (the client prints "remote rejected (reason)"); in side-band frames when
// the client asked for them.
func pushResponse(req *PushRequest, ds []*gate.Decision, report *Statuses) []byte {
	var out bytes.Buffer
	frame := 1000
	if req.Has("side-band-64k") {
		frame = maxPktLen
	}
	if req.Sideband() {
		for _, d := range ds {
			if d.Reason != "" && !strings.HasPrefix(d.Reason, "atomic push") {
				out.Write(sideband(2, []byte("terok-gate: "+d.Update.Ref+": "+d.Reason+"\n"), frame))
			}
		}
	}
	if report != nil && req.ReportStatus() {
		rep := Statuses{Unpack: report.Unpack, Lines: slices.Clone(report.Lines)}
		for _, d := range ds {
			if d.Reason != "" {
				rep.drop(d.Update.Ref)
				rep.Lines = append(rep.Lines, "ng "+d.Update.Ref+" "+d.Reason)
			}
		}
		if req.Sideband() {
			out.Write(sideband(1, rep.encode(), frame))
		} else {
			out.Write(rep.encode())
		}
	}
	if req.Sideband() {
		out.Write(flushPkt)
	}
	return out.Bytes()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func sizeReason(limit int64) string {
	return fmt.Sprintf("push is larger than this gate's limit of %d bytes (gate.max_push_size)", limit)
}

// drop removes ref's status lines (and a v2 status's option lines).
func (s *Statuses) drop(ref string) {
	var keep []string
	skipping := false
	for _, l := range s.Lines {
		if l == "ok "+ref || strings.HasPrefix(l, "ng "+ref+" ") {
			skipping = true
			continue
		}
		if skipping && strings.HasPrefix(l, "option ") {
			continue
		}
		skipping = false
		keep = append(keep, l)
	}
	s.Lines = keep
}

// runReceivePack feeds the allowed commands and the pack to git
// receive-pack, passes its progress through to the client, and returns
// its report and the size of the pack.
func (e *Endpoint) runReceivePack(ctx context.Context, w http.ResponseWriter, req *PushRequest, allowed []gate.RefUpdate, pack *bufio.Reader, drainMax int64) (*Statuses, int64) {
	cmd, err := e.Mirror.Service(ctx, "receive-pack", false)
	if err != nil {
		return &Statuses{Unpack: "gate error"}, 0
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return &Statuses{Unpack: "gate error"}, 0
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return &Statuses{Unpack: "gate error"}, 0
	}
	if err := cmd.Start(); err != nil {
		return &Statuses{Unpack: "gate error: " + err.Error()}, 0
	}
	sized := make(chan int64, 1)
	go func() {
		cp := &countingReader{r: pack}
		_, err := stdin.Write(req.Encode(allowed))
		if err == nil {
			_, err = io.Copy(stdin, io.LimitReader(cp, drainMax))
		}
		// git read to the end, or stopped reading: err says which.
		_ = stdin.Close()
		if err != nil { // git stopped reading (it refused the pack): read the rest
			drain(cp, drainMax-cp.n)
		}
		sized <- cp.n
	}()

	var report *Statuses
	br := bufio.NewReaderSize(stdout, 64<<10)
	if req.Sideband() {
		var band1 bytes.Buffer
		for {
			p, err := readPkt(br)
			if err != nil || len(p) == 0 {
				break // flush (the end) or a broken stream
			}
			switch p[0] {
			case 1:
				band1.Write(p[1:])
			case 2, 3:
				if _, err := w.Write(pkt(p)); err == nil {
					_ = http.NewResponseController(w).Flush() // progress only; the report follows
				}
			}
		}
		report, _ = parseReport(bufio.NewReader(&band1))
	} else if req.ReportStatus() {
		report, _ = parseReport(br)
	}
	_, _ = io.Copy(io.Discard, br) // git's output past the report, so that it can exit
	waitErr := cmd.Wait()
	n := <-sized
	if report == nil && req.ReportStatus() {
		why := "gate error"
		if waitErr != nil {
			why = "receive-pack failed: " + cmd.Failure(waitErr)
		}
		report = &Statuses{Unpack: why}
	}
	return report, n
}

// notApplied says why an allowed update of ref did not apply, the first
// that holds of: its ref could not be read (readErr); the pack was over
// the size limit (oversize); git's reason for the ref; git's unpack
// failure; else just that it was not applied.
func notApplied(report *Statuses, ref, oversize string, readErr error) string {
	switch {
	case readErr != nil:
		return "gate error: " + readErr.Error()
	case oversize != "":
		return oversize
	case report == nil:
		return "not applied"
	}
	if g := report.Reason(ref); g != "" && g != "no status" {
		return g
	}
	if report.Unpack != "ok" {
		return "unpack failed: " + report.Unpack
	}
	return "not applied"
}

// drain discards what is left of r, at most max bytes; it reports
// whether r ended within them.
func drain(r io.Reader, max int64) (int64, bool) {
	n, _ := io.Copy(io.Discard, io.LimitReader(r, max+1))
	return n, n <= max
}
