package gate

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
)

// decision is the gate's verdict on one ref update of a push.
type decision struct {
	u      RefUpdate
	cur    string // the ref's value before the push ("" absent)
	reason string // "" while allowed
	backup string // the tentative backup key, for an update or delete
}

// drainSlack is how far past the size limit a refused push is still read,
// so that the client gets to read the refusal.
const drainSlack = 1 << 20

// receivePack serves a push. It reads the command list, reads the refs
// and owners under the mirror's lock, decides every update with planPush,
// carries the decisions out with receive (backups, then git receive-pack
// with the allowed commands), settles what git did, and answers with
// pushResponse. The lock is held until the answer is written.
func (e *Endpoint) receivePack(w http.ResponseWriter, r *http.Request, task string) {
	m := e.Mirror
	if err := m.check(); err != nil {
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
		e.event(AuditEntry{Time: time.Now().UTC(), Type: "push", Task: task, Reason: "bad push request: " + err.Error(), Remote: r.RemoteAddr})
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

	st, unlock := e.lockedPushState(ctx, req.Updates)
	defer unlock()
	ds := planPush(task, req, m.Policy, st, announced)
	report, packBytes := e.receive(ctx, w, req, ds, br)
	oversize := ""
	if limit := m.Policy.MaxPushSize; limit > 0 && packBytes > limit {
		oversize = sizeReason(limit)
	}
	e.event(m.settle(ctx, task, ds, report, oversize, r.RemoteAddr)...)
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

// pushState is what a push is decided against, read under the mirror's
// lock.
type pushState struct {
	// current holds each update's ref as it is now ("" absent), in the
	// request's order; when reading failed part way, only the ones read.
	current []string
	owners  Owners
	// refusal, when the state could not be read (the lock not taken in
	// time, the mirror or its records unreadable), refuses every update
	// that has no reason yet.
	refusal string
}

// lockedPushState takes the mirror's lock (waiting at most LockWait,
// default 2 minutes) and reads the refs the updates name and their
// owners. unlock releases the lock, if it was taken.
func (e *Endpoint) lockedPushState(ctx context.Context, updates []RefUpdate) (st pushState, unlock func()) {
	m := e.Mirror
	lockCtx, lockCancel := context.WithTimeout(ctx, orDefault(e.LockWait, 2*time.Minute))
	unlock, err := m.lock(lockCtx)
	lockCancel()
	if err != nil {
		return pushState{refusal: "gate busy or broken; try again (" + err.Error() + ")"}, func() {}
	}
	st, err = m.pushState(updates)
	if err != nil {
		st.refusal = "gate error: " + sanitizeLine(err.Error())
	}
	return st, unlock
}

// pushState reads the refs the updates name, in order, and the gate's
// owners records. On an error it returns what it read so far.
func (m *Mirror) pushState(updates []RefUpdate) (pushState, error) {
	var st pushState
	r, err := m.open()
	if err != nil {
		return st, err
	}
	owners, err := records{m.StateDir}.owners()
	if err != nil {
		return st, err
	}
	st.owners = owners
	for _, u := range updates {
		cur, err := r.ref(u.Ref)
		if err != nil {
			return st, err
		}
		st.current = append(st.current, cur)
	}
	return st, nil
}

// planPush decides every update of a push, touching nothing: first the
// policy's verdict on each against the refs and owners as they are, then
// the push's own rules, each refusing what is not refused yet — the
// state's refusal, when it could not be read; a pack announced (size, 0
// unknown) as larger than the limit; an atomic push, whole, when one ref
// is refused; push options, which are not accepted. It returns one
// decision per update, in the request's order; those without a reason go
// to git.
func planPush(task string, req *PushRequest, p Policy, st pushState, announced int64) []*decision {
	ds := make([]*decision, len(req.Updates))
	for i, u := range req.Updates {
		ds[i] = &decision{u: u}
		if i < len(st.current) {
			ds[i].cur = st.current[i]
			ds[i].reason = p.Decide(task, u, ds[i].cur, st.owners)
		}
	}
	if st.refusal != "" {
		refuseAll(ds, st.refusal)
	}
	if p.MaxPushSize > 0 && announced > p.MaxPushSize {
		refuseAll(ds, sizeReason(p.MaxPushSize))
	}
	if req.Has("atomic") && slices.ContainsFunc(ds, func(d *decision) bool { return d.reason != "" }) {
		refuseAll(ds, "atomic push: another ref was refused")
	}
	if req.Has("push-options") {
		refuseAll(ds, "push options are not accepted")
	}
	return ds
}

// refuseAll refuses, with reason, every update not refused yet.
func refuseAll(ds []*decision, reason string) {
	for _, d := range ds {
		if d.reason == "" {
			d.reason = reason
		}
	}
}

// allowedUpdates are the updates of ds without a reason, in order.
func allowedUpdates(ds []*decision) []RefUpdate {
	var allowed []RefUpdate
	for _, d := range ds {
		if d.reason == "" {
			allowed = append(allowed, d.u)
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
func (e *Endpoint) receive(ctx context.Context, w http.ResponseWriter, req *PushRequest, ds []*decision, pack *bufio.Reader) (*Statuses, int64) {
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
	if err := e.Mirror.backupBefore(ctx, ds); err != nil {
		refuseAll(ds, "gate error: "+sanitizeLine(err.Error()))
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
func pushResponse(req *PushRequest, ds []*decision, report *Statuses) []byte {
	var out bytes.Buffer
	frame := 1000
	if req.Has("side-band-64k") {
		frame = maxPktLen
	}
	if req.Sideband() {
		for _, d := range ds {
			if d.reason != "" && !strings.HasPrefix(d.reason, "atomic push") {
				out.Write(sideband(2, []byte("terok-gate: "+d.u.Ref+": "+d.reason+"\n"), frame))
			}
		}
	}
	if report != nil && req.ReportStatus() {
		rep := Statuses{Unpack: report.Unpack, Lines: slices.Clone(report.Lines)}
		for _, d := range ds {
			if d.reason != "" {
				rep.drop(d.u.Ref)
				rep.Lines = append(rep.Lines, "ng "+d.u.Ref+" "+d.reason)
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

// backupBefore saves, before git moves anything, the current tip of every
// allowed update or delete of an existing ref under a fresh backup ref.
// settle drops those that turn out not to be needed (fast-forwards, and
// updates that did not apply).
func (m *Mirror) backupBefore(ctx context.Context, ds []*decision) error {
	var tx refTx
	for _, d := range ds {
		if d.reason == "" && d.cur != "" {
			d.backup = newBackupKey(m.Now())
			tx.create(backupRef(d.backup, d.u.Ref), d.cur)
		}
	}
	return m.commitTx(ctx, &tx, "backup before push")
}

// runReceivePack feeds the allowed commands and the pack to git
// receive-pack, passes its progress through to the client, and returns
// its report and the size of the pack.
func (e *Endpoint) runReceivePack(ctx context.Context, w http.ResponseWriter, req *PushRequest, allowed []RefUpdate, pack *bufio.Reader, drainMax int64) (*Statuses, int64) {
	m := e.Mirror
	cmd := m.gateGit(ctx, "receive-pack", "--stateless-rpc", m.Dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return &Statuses{Unpack: "gate error"}, 0
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return &Statuses{Unpack: "gate error"}, 0
	}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{max: 4096, b: &stderr}
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
			why = "receive-pack failed: " + gitError(stderr.String(), waitErr)
		}
		report = &Statuses{Unpack: why}
	}
	return report, n
}

// settle looks at what git did to each allowed ref, keeps the backups of
// forced updates and deletes, drops the others, records which task now
// owns which ref, and returns the audit entries of the push.
//
// An allowed update that git did not apply gets its reason from git's
// report (or oversize, when the pack was over the limit), and that reason
// replaces git's line in the report the client reads.
func (m *Mirror) settle(ctx context.Context, task string, ds []*decision, report *Statuses, oversize, remote string) []AuditEntry {
	now := m.Now().UTC()
	var entries []AuditEntry
	r, err := m.open()
	rec := records{m.StateDir}
	var owners Owners
	var info map[string]BackupInfo
	if err == nil {
		owners, err = rec.owners()
	}
	if err == nil {
		info, err = rec.backups()
	}
	var drop refTx
	ownersChanged, infoChanged := false, false
	for _, d := range ds {
		en := AuditEntry{Time: now, Type: "push", Task: task, Ref: d.u.Ref, Old: d.u.Old, New: d.u.New, Remote: remote}
		switch {
		case d.reason != "":
			en.Reason = d.reason
		case err != nil:
			en.Reason = "gate error: " + err.Error()
		default:
			applied, forced, rerr := r.landed(d.u)
			if !applied {
				d.reason = notApplied(report, d.u.Ref, oversize, rerr)
				en.Reason = d.reason
				break
			}
			en.Accepted, en.Forced = true, forced && !d.u.IsDelete()
			switch {
			case d.u.IsCreate():
				owners[d.u.Ref] = Owner{Task: task, Created: now}
				ownersChanged = true
			case d.u.IsDelete():
				en.Reason = "deleted"
				delete(owners, d.u.Ref)
				ownersChanged = true
			}
			if d.backup != "" && forced {
				reason := "force-push"
				if d.u.IsDelete() {
					reason = "delete"
				}
				info[d.backup] = BackupInfo{Reason: reason, Task: task}
				infoChanged = true
				en.Backup = m.Project + "/" + d.backup
				d.backup = ""
			}
		}
		if d.backup != "" {
			drop.delete(backupRef(d.backup, d.u.Ref), d.cur)
		}
		entries = append(entries, en)
	}
	if err == nil {
		if ownersChanged {
			err = rec.setOwners(owners)
		}
		if err == nil && infoChanged {
			err = rec.setBackups(info)
		}
	}
	if derr := m.commitTx(ctx, &drop, "drop unneeded backups"); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		entries = append(entries, AuditEntry{Time: now, Type: "error", Task: task, Reason: "settling a push: " + err.Error()})
	}
	return entries
}

// landed says whether git applied u (its ref is now where u moves it),
// and whether that was forced: a delete, or an update that is not a
// fast-forward (or whose ancestry cannot be read).
func (r *repo) landed(u RefUpdate) (applied, forced bool, err error) {
	after, err := r.ref(u.Ref)
	switch {
	case err != nil:
		return false, false, err
	case u.IsDelete():
		return after == "", true, nil
	case after != u.New:
		return false, false, nil
	case u.IsCreate():
		return true, false, nil
	}
	ff, aerr := r.isAncestor(u.Old, u.New)
	return true, aerr != nil || !ff, nil
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
