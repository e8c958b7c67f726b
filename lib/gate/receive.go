package gate

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
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

func (e *Endpoint) receivePack(w http.ResponseWriter, r *http.Request, task string) {
	m := e.Mirror
	if err := m.check(); err != nil {
		http.Error(w, "terok-gate: "+err.Error(), http.StatusNotFound)
		return
	}
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	timeout := e.PushTimeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	rc.SetReadDeadline(deadline)
	rc.SetWriteDeadline(deadline)
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
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
	cmdBytes := cr.n - int64(br.Buffered())
	limit := m.Policy.MaxPushSize
	drainMax := limit + drainSlack
	if limit <= 0 {
		drainMax = 4 << 30
	}

	ds := make([]*decision, len(req.Updates))
	for i, u := range req.Updates {
		ds[i] = &decision{u: u}
	}
	refuseAll := func(reason string) {
		for _, d := range ds {
			if d.reason == "" {
				d.reason = reason
			}
		}
	}
	lockCtx, lockCancel := context.WithTimeout(ctx, orDefault(e.LockWait, 2*time.Minute))
	unlock, err := m.lock(lockCtx)
	lockCancel()
	if err != nil {
		refuseAll("gate busy or broken; try again (" + err.Error() + ")")
	} else {
		defer unlock()
		if err := m.decide(task, ds); err != nil {
			refuseAll("gate error: " + sanitizeLine(err.Error()))
		}
	}
	if limit > 0 && r.ContentLength > 0 && r.ContentLength-cmdBytes > limit {
		refuseAll(sizeReason(limit))
	}
	if req.Has("atomic") {
		for _, d := range ds {
			if d.reason != "" {
				refuseAll("atomic push: another ref was refused")
				break
			}
		}
	}
	if req.Has("push-options") {
		refuseAll("push options are not accepted")
	}

	var allowed []RefUpdate
	for _, d := range ds {
		if d.reason == "" {
			allowed = append(allowed, d.u)
		}
	}
	var report *Statuses
	var progress [][]byte
	packBytes := int64(0)
	if len(allowed) == 0 {
		n, _ := drain(br, drainMax)
		packBytes = n
		if req.ReportStatus() {
			report = &Statuses{Unpack: "ok"}
		}
	} else {
		if err := m.backupBefore(ctx, ds); err != nil {
			refuseAll("gate error: " + sanitizeLine(err.Error()))
			allowed = nil
			drain(br, drainMax)
			report = &Statuses{Unpack: "ok"}
		} else {
			report, packBytes = e.runReceivePack(ctx, w, req, allowed, br, drainMax)
		}
	}
	oversize := ""
	if limit > 0 && packBytes > limit {
		oversize = sizeReason(limit)
	}
	entries := m.settle(ctx, task, ds, report, oversize, r.RemoteAddr)
	e.event(entries...)

	// The refusals, readable twice: as "remote:" lines, and as each ref's
	// "remote rejected (reason)".
	for _, d := range ds {
		if d.reason != "" && !strings.HasPrefix(d.reason, "atomic push") {
			progress = append(progress, []byte("terok-gate: "+d.u.Ref+": "+d.reason+"\n"))
		}
	}
	var out bytes.Buffer
	max := 1000
	if req.Has("side-band-64k") {
		max = maxPktLen
	}
	if req.Sideband() {
		for _, p := range progress {
			out.Write(sideband(2, p, max))
		}
	}
	if report != nil && req.ReportStatus() {
		for _, d := range ds {
			if d.reason != "" {
				report.drop(d.u.Ref)
				report.Lines = append(report.Lines, "ng "+d.u.Ref+" "+d.reason)
			}
		}
		if req.Sideband() {
			out.Write(sideband(1, report.encode(), max))
		} else {
			out.Write(report.encode())
		}
	}
	if req.Sideband() {
		out.Write(flushPkt)
	}
	w.Write(out.Bytes())
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

// decide applies the policy to every update, against the mirror's refs
// and owners as they are under the lock.
func (m *Mirror) decide(task string, ds []*decision) error {
	r, err := m.open()
	if err != nil {
		return err
	}
	owners, err := records{m.StateDir}.owners()
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.cur, err = r.ref(d.u.Ref); err != nil {
			return err
		}
		d.reason = m.Policy.Decide(task, d.u, d.cur, owners)
	}
	return nil
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
		stdin.Close()
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
					http.NewResponseController(w).Flush()
				}
			}
		}
		report, _ = parseReport(bufio.NewReader(&band1))
	} else if req.ReportStatus() {
		report, _ = parseReport(br)
	}
	io.Copy(io.Discard, br)
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
		if d.reason == "" && err == nil {
			after, rerr := r.ref(d.u.Ref)
			applied := rerr == nil && (d.u.IsDelete() && after == "" || !d.u.IsDelete() && after == d.u.New)
			if applied {
				forced := d.u.IsDelete()
				if !d.u.IsCreate() && !d.u.IsDelete() {
					ff, aerr := r.isAncestor(d.u.Old, d.u.New)
					forced = aerr != nil || !ff
				}
				en.Accepted, en.Forced = true, forced && !d.u.IsDelete()
				if d.u.IsDelete() {
					en.Reason = "deleted"
				}
				switch {
				case d.u.IsCreate():
					owners[d.u.Ref] = Owner{Task: task, Created: now}
					ownersChanged = true
				case d.u.IsDelete():
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
			} else {
				why := "not applied"
				if report != nil {
					if g := report.Reason(d.u.Ref); g != "" && g != "no status" {
						why = g
					} else if report.Unpack != "ok" {
						why = "unpack failed: " + report.Unpack
					}
				}
				if oversize != "" {
					why = oversize
				}
				if rerr != nil {
					why = "gate error: " + rerr.Error()
				}
				d.reason, en.Reason = why, why
			}
		} else if d.reason == "" {
			en.Reason = "gate error: " + err.Error()
		} else {
			en.Reason = d.reason
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
