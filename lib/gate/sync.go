package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Change is one branch that a sync changed or would change in the mirror.
type Change struct {
	Project string `json:"project"`
	Branch  string `json:"branch"`
	// Action: created (new upstream branch), fast-forward, rewrite
	// (upstream rewrote the branch, or the gate's copy has commits upstream
	// lacks), delete (upstream deleted it), seeded (the initial commit of a
	// mirror without upstream).
	Action  string `json:"action"`
	Applied bool   `json:"applied"`
	Pending bool   `json:"pending"`
	Old     string `json:"old"`
	New     string `json:"new"`
	// Lost counts the commits of the gate's branch that the change
	// discards (or would): those that no other branch, of the gate or of
	// the upstream, keeps. The backup keeps them all.
	Lost   int    `json:"lost"`
	Backup string `json:"backup,omitempty"`
}

// Sync brings the mirror up to date with the upstream, creating it on
// first use. New branches and fast-forwards apply; a branch that upstream
// deleted or rewrote is pending (Pending, with what it would lose) unless
// apply is set, and then it applies after its old tip is backed up.
// Branches that only the gate has are never touched. prompt lets the
// host user's git ask for credentials on a terminal.
func (m *Mirror) Sync(ctx context.Context, apply, prompt bool) ([]Change, error) {
	unlock, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	exists, err := m.Exists()
	if err != nil {
		return nil, err
	}
	if !exists {
		return m.create(ctx, prompt)
	}
	if err := m.writeConfig(m.Dir); err != nil {
		return nil, err
	}
	if m.Upstream == "" {
		return nil, nil
	}
	if err := m.fetch(ctx, m.Dir, prompt); err != nil {
		return nil, err
	}
	return m.reconcile(ctx, apply)
}

// create makes the mirror in a temporary directory beside its place and
// renames it there only when complete: a failed first sync leaves nothing.
func (m *Mirror) create(ctx context.Context, prompt bool) ([]Change, error) {
	parent := filepath.Dir(m.Dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, ".new-"+m.Project+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	final := m.Dir
	m.Dir = tmp
	defer func() { m.Dir = final }()
	if _, err := m.run(ctx, "", "init", "--bare", "--quiet", "--template=", tmp); err != nil {
		return nil, err
	}
	if err := m.writeConfig(tmp); err != nil {
		return nil, err
	}
	if _, err := m.run(ctx, "", "symbolic-ref", "HEAD", headsPrefix+m.Policy.DefaultBranch); err != nil {
		return nil, err
	}
	// A new mirror starts with no records of an old one.
	rec := records{m.StateDir}
	for _, f := range []string{rec.ownersFile(), rec.backupsFile()} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	var changes []Change
	if m.Upstream == "" {
		id, err := m.seed(ctx)
		if err != nil {
			return nil, err
		}
		changes = []Change{{Project: m.Project, Branch: m.Policy.DefaultBranch, Action: "seeded", Applied: true, Old: ZeroID, New: id}}
	} else {
		if err := m.fetch(ctx, tmp, prompt); err != nil {
			return nil, err
		}
		if changes, err = m.reconcile(ctx, false); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	m.Dir = final
	return changes, nil
}

// seed makes the initial commit of a mirror without upstream: an empty
// tree on the default branch.
func (m *Mirror) seed(ctx context.Context) (string, error) {
	tree, err := m.run(ctx, "", "mktree")
	if err != nil {
		return "", err
	}
	cmd := m.gateGit(ctx, "commit-tree", "-m", "Initial commit (made by terok-gate: the project has no upstream)", strings.TrimSpace(tree))
	cmd.Env = append(cmd.Env, "GIT_AUTHOR_NAME=terok", "GIT_AUTHOR_EMAIL=terok@localhost",
		"GIT_COMMITTER_NAME=terok", "GIT_COMMITTER_EMAIL=terok@localhost")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git commit-tree: %s", gitError(errb.String(), err))
	}
	id := strings.TrimSpace(string(out))
	var tx refTx
	tx.create(headsPrefix+m.Policy.DefaultBranch, id)
	return id, m.commitTx(ctx, &tx, "seed")
}

// fetch copies the upstream's branches to refs/terok/remote/ with the
// host user's git, pruning the ones upstream deleted.
func (m *Mirror) fetch(ctx context.Context, dir string, prompt bool) error {
	saved := m.Dir
	m.Dir = dir
	defer func() { m.Dir = saved }()
	cmd := m.upstreamGit(ctx, prompt, "fetch", "--quiet", "--no-tags", "--prune", "--no-recurse-submodules",
		"--no-write-fetch-head", "--no-auto-gc", "--", m.Upstream, "+"+headsPrefix+"*:"+remotePrefix+"*")
	var errb bytes.Buffer
	cmd.Stderr = &limitedBuffer{max: 8192, b: &errb}
	if err := cmd.Run(); err != nil {
		return &UpstreamError{Op: "fetch from", Upstream: m.Upstream, Msg: gitError(errb.String(), err)}
	}
	return nil
}

// UpstreamError is a failure to reach or update the upstream.
type UpstreamError struct {
	Op, Upstream, Msg string
}

func (e *UpstreamError) Error() string { return fmt.Sprintf("%s %s: %s", e.Op, e.Upstream, e.Msg) }

// Hint says what usually fixes it.
func (e *UpstreamError) Hint() string {
	return "check that the upstream exists and that your own 'git ls-remote " + e.Upstream + "' works"
}

// reconcile compares, per branch, the gate's copy with the upstream as
// just fetched (refs/terok/remote/) and as last in sync
// (refs/terok/upstream/), and applies what is safe (or everything, with
// apply): planSync decides, applySync carries it out.
func (m *Mirror) reconcile(ctx context.Context, apply bool) ([]Change, error) {
	r, err := m.open()
	if err != nil {
		return nil, err
	}
	var refs syncRefs
	if refs.gate, err = r.refs(headsPrefix); err != nil {
		return nil, err
	}
	if refs.remote, err = r.refs(remotePrefix); err != nil {
		return nil, err
	}
	if refs.synced, err = r.refs(syncedPrefix); err != nil {
		return nil, err
	}
	steps, err := planSync(refs, r, apply)
	if err != nil {
		return nil, err
	}
	return m.applySync(ctx, steps)
}

// syncRefs are the refs a sync compares, by full name: the gate's
// branches (refs/heads/), the upstream's as just fetched
// (refs/terok/remote/) and as each gate branch was last in sync with
// (refs/terok/upstream/).
type syncRefs struct {
	gate, remote, synced map[string]string
}

// history is what a sync plan asks of the mirror's commits (a *repo).
type history interface {
	isAncestor(a, b string) (bool, error)
	lost(tip, branch string, gate, remote map[string]string) (int, error)
}

// syncStep is what a sync does about one branch.
type syncStep struct {
	branch string
	// The branch's tips ("" absent): the gate's, the upstream's now, and
	// the upstream's when the branch was last in sync.
	gate, up, last string
	// action is a Change's (created, fast-forward, rewrite, delete), or ""
	// when the gate's branch stays and only the record of the last sync
	// moves to up.
	action string
	apply  bool // the change applies now; else it is pending
	lost   int  // a rewrite's or delete's commits that no other branch keeps
}

// safe says whether the step's change loses nothing, and so applies
// without being asked to and without a backup.
func (s syncStep) safe() bool { return s.action == "created" || s.action == "fast-forward" }

// planSync decides, per branch the upstream has or had, in name order,
// what a sync does, touching nothing. A new upstream branch is created
// and a fast-forward applies; a branch the upstream deleted or rewrote
// (or that has commits upstream lacks without containing its tip) is a
// delete or rewrite, pending unless apply. A gate branch equal to or ahead
// of the upstream stays, and the record of the last sync follows the
// upstream. Branches only the gate has are not in the plan; nor are names
// git would take but terok refuses.
func planSync(refs syncRefs, h history, apply bool) ([]syncStep, error) {
	names := map[string]bool{}
	for n := range refs.remote {
		names[strings.TrimPrefix(n, remotePrefix)] = true
	}
	for n := range refs.synced {
		names[strings.TrimPrefix(n, syncedPrefix)] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)

	var steps []syncStep
	for _, b := range sorted {
		if ValidBranchName(b) != nil {
			continue
		}
		s := syncStep{branch: b, gate: refs.gate[headsPrefix+b], up: refs.remote[remotePrefix+b], last: refs.synced[syncedPrefix+b]}
		var err error
		switch {
		case s.up == "" && s.last == "":
			continue
		case s.up == "" && s.gate == "": // deleted on both sides
		case s.up == "":
			s.action = "delete"
		case s.gate == "":
			s.action = "created"
		case s.gate == s.up:
		default:
			if s.action, err = divergence(h, s.gate, s.up); err != nil {
				return nil, err
			}
		}
		if s.action == "" && s.last == s.up {
			continue // nothing to do
		}
		if s.action == "delete" || s.action == "rewrite" {
			if s.lost, err = h.lost(s.gate, b, refs.gate, refs.remote); err != nil {
				return nil, err
			}
		}
		s.apply = s.action == "" || s.safe() || apply
		steps = append(steps, s)
	}
	return steps, nil
}

// divergence says what moving a gate branch from gate to the upstream's
// up would be: a fast-forward, nothing ("", the gate is ahead), or a
// rewrite.
func divergence(h history, gate, up string) (string, error) {
	ff, err := h.isAncestor(gate, up)
	if err != nil || ff {
		return "fast-forward", err
	}
	ahead, err := h.isAncestor(up, gate)
	if err != nil || ahead {
		return "", err
	}
	return "rewrite", nil
}

// applySync carries out a sync's plan. All its ref updates go in one
// transaction: each applied change moves the gate's branch and the record
// of the last sync to the upstream's tip, after a backup of the gate's
// tip when the change is not safe. Then the backups' reasons are noted
// and the applied changes audited. It returns every change, applied or
// pending.
func (m *Mirror) applySync(ctx context.Context, steps []syncStep) ([]Change, error) {
	var tx refTx
	var changes []Change
	notes := map[string]BackupInfo{}
	for _, s := range steps {
		b := s.branch
		if s.action == "" {
			tx.set(syncedPrefix+b, s.up, s.last)
			continue
		}
		c := Change{Project: m.Project, Branch: b, Action: s.action, Old: orZero(s.gate), New: orZero(s.up), Lost: s.lost}
		if !s.apply {
			c.Pending = true
			changes = append(changes, c)
			continue
		}
		if !s.safe() {
			key := newBackupKey(m.Now())
			tx.create(backupRef(key, headsPrefix+b), s.gate)
			notes[key] = BackupInfo{Reason: "sync-" + s.action}
			c.Backup = m.Project + "/" + key
		}
		tx.set(headsPrefix+b, s.up, s.gate)
		tx.set(syncedPrefix+b, s.up, s.last)
		c.Applied = true
		changes = append(changes, c)
	}
	if err := m.commitTx(ctx, &tx, "sync"); err != nil {
		return nil, err
	}
	if len(notes) > 0 {
		rec := records{m.StateDir}
		info, err := rec.backups()
		if err != nil {
			return nil, err
		}
		maps.Copy(info, notes)
		if err := rec.setBackups(info); err != nil {
			return nil, err
		}
	}
	var entries []AuditEntry
	for _, c := range changes {
		if c.Applied {
			entries = append(entries, AuditEntry{Time: m.Now().UTC(), Type: "sync", Ref: headsPrefix + c.Branch,
				Old: c.Old, New: c.New, Forced: c.Action == "rewrite", Accepted: true, Reason: c.Action,
				Backup: c.Backup, Upstream: m.Upstream})
		}
	}
	return changes, m.Audit(entries...)
}

// lost counts the commits of the gate's branch b (at tip) that no other
// branch would keep: neither another branch of the gate, nor any of the
// upstream's (the new tip included).
func (r *repo) lost(tip, b string, gate, remote map[string]string) (int, error) {
	var keep []string
	for n, id := range gate {
		if n != headsPrefix+b {
			keep = append(keep, id)
		}
	}
	hs, err := r.exclusive(tip, append(keep, values(remote)...)...)
	return len(hs), err
}

func orZero(id string) string {
	if id == "" {
		return ZeroID
	}
	return id
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
