package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
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
// apply). All applied changes and their backups go in one ref transaction.
func (m *Mirror) reconcile(ctx context.Context, apply bool) ([]Change, error) {
	r, err := m.open()
	if err != nil {
		return nil, err
	}
	gate, err := r.refs(headsPrefix)
	if err != nil {
		return nil, err
	}
	remote, err := r.refs(remotePrefix)
	if err != nil {
		return nil, err
	}
	synced, err := r.refs(syncedPrefix)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for n := range remote {
		names[strings.TrimPrefix(n, remotePrefix)] = true
	}
	for n := range synced {
		names[strings.TrimPrefix(n, syncedPrefix)] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)

	var tx refTx
	var changes []Change
	notes := map[string]BackupInfo{}
	for _, b := range sorted {
		if ValidBranchName(b) != nil {
			continue
		}
		g, up, last := gate[headsPrefix+b], remote[remotePrefix+b], synced[syncedPrefix+b]
		c := Change{Project: m.Project, Branch: b, Old: orZero(g), New: orZero(up)}
		switch {
		case up == "" && last == "":
			continue
		case up == "": // upstream deleted it
			if g == "" {
				tx.delete(syncedPrefix+b, last)
				continue
			}
			c.Action = "delete"
			if c.Lost, err = r.lost(g, b, gate, remote); err != nil {
				return nil, err
			}
		case g == "":
			c.Action = "created"
		case g == up:
			if last != up {
				tx.set(syncedPrefix+b, up, last)
			}
			continue
		default:
			ff, err := r.isAncestor(g, up)
			if err != nil {
				return nil, err
			}
			if ff {
				c.Action = "fast-forward"
				break
			}
			ahead, err := r.isAncestor(up, g)
			if err != nil {
				return nil, err
			}
			if ahead { // the gate is ahead of upstream: nothing to do
				if last != up {
					tx.set(syncedPrefix+b, up, last)
				}
				continue
			}
			c.Action = "rewrite"
			if c.Lost, err = r.lost(g, b, gate, remote); err != nil {
				return nil, err
			}
		}
		safe := c.Action == "created" || c.Action == "fast-forward"
		if !safe && !apply {
			c.Pending = true
			changes = append(changes, c)
			continue
		}
		if !safe {
			key := newBackupKey(m.Now())
			tx.create(backupRef(key, headsPrefix+b), g)
			notes[key] = BackupInfo{Reason: "sync-" + c.Action}
			c.Backup = m.Project + "/" + key
		}
		tx.set(headsPrefix+b, up, g)
		tx.set(syncedPrefix+b, up, last)
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
		for k, v := range notes {
			info[k] = v
		}
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
	return changes, m.audit(entries...)
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
