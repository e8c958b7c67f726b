package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// Promotion is a planned (and then done) push of a gate branch to the
// upstream, as `terok-gate promote` prints it.
type Promotion struct {
	Project     string `json:"project"`
	Ref         string `json:"ref"`
	Branch      string `json:"branch"`
	To          string `json:"to"`
	Upstream    string `json:"upstream"`
	Commit      string `json:"commit"`
	Old         string `json:"old"`
	Commits     int    `json:"commits"`
	Lost        int    `json:"lost"`
	FastForward bool   `json:"fast_forward"`
	Forced      bool   `json:"forced"`
	Pushed      bool   `json:"pushed"`
}

// ErrNoUpstream is returned when promoting in a project without upstream.
var ErrNoUpstream = errors.New("the project has no upstream to promote to")

// ErrNotFastForward is returned for a promotion that would discard
// upstream commits, unless forced.
var ErrNotFastForward = errors.New("not a fast-forward")

// ErrMoved is returned when the gate branch moved between plan and push.
var ErrMoved = errors.New("the branch moved since the promotion was planned")

// PlanPromote looks at the upstream's branch to (default: the same name)
// with the host user's git and says what promoting branch would push:
// the commits upstream lacks, and whether it is a fast-forward. It also
// returns those commits, for a person to see.
func (m *Mirror) PlanPromote(ctx context.Context, branch, to string, prompt bool) (*Promotion, []Commit, error) {
	if m.Upstream == "" {
		return nil, nil, ErrNoUpstream
	}
	if to == "" {
		to = branch
	}
	if err := ValidBranchName(to); err != nil {
		return nil, nil, invalid(err)
	}
	r, err := m.open()
	if err != nil {
		return nil, nil, err
	}
	tip, err := r.tip(branch)
	if err != nil {
		return nil, nil, err
	}
	p := &Promotion{Project: m.Project, Ref: m.Project + "/" + branch, Branch: branch, To: to,
		Upstream: m.Upstream, Commit: tip, Old: ZeroID}
	// What the upstream's branch is now.
	cmd := m.upstreamGit(ctx, prompt, "ls-remote", "--heads", "--", m.Upstream, headsPrefix+to)
	var errb bytes.Buffer
	cmd.Stderr = &limitedBuffer{max: 8192, b: &errb}
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, &UpstreamError{Op: "read", Upstream: m.Upstream, Msg: gitError(errb.String(), err)}
	}
	for _, line := range strings.Split(string(out), "\n") {
		if id, name, ok := strings.Cut(line, "\t"); ok && name == headsPrefix+to && IsObjectID(id) {
			p.Old = id
		}
	}
	var base []string
	if p.Old != ZeroID {
		if !r.isCommit(p.Old) {
			if err := m.fetchOne(ctx, to, prompt); err != nil {
				return nil, nil, err
			}
			if r, err = m.open(); err != nil {
				return nil, nil, err
			}
		}
		base = []string{p.Old}
		lost, err := r.exclusive(p.Old, tip)
		if err != nil {
			return nil, nil, err
		}
		p.Lost = len(lost)
	} else {
		remote, err := r.refs(remotePrefix)
		if err != nil {
			return nil, nil, err
		}
		base = values(remote)
	}
	p.FastForward = p.Lost == 0
	hashes, err := r.exclusive(tip, base...)
	if err != nil {
		return nil, nil, err
	}
	p.Commits = len(hashes)
	var commits []Commit
	for _, h := range hashes {
		c, err := r.commitAt(h)
		if err != nil {
			return nil, nil, err
		}
		commits = append(commits, m.commitOf(branch, c))
	}
	return p, commits, nil
}

// fetchOne fetches the upstream's branch to into refs/terok/remote/.
func (m *Mirror) fetchOne(ctx context.Context, to string, prompt bool) error {
	cmd := m.upstreamGit(ctx, prompt, "fetch", "--quiet", "--no-tags", "--no-recurse-submodules",
		"--no-write-fetch-head", "--no-auto-gc", "--", m.Upstream, "+"+headsPrefix+to+":"+remotePrefix+to)
	var errb bytes.Buffer
	cmd.Stderr = &limitedBuffer{max: 8192, b: &errb}
	if err := cmd.Run(); err != nil {
		return &UpstreamError{Op: "fetch from", Upstream: m.Upstream, Msg: gitError(errb.String(), err)}
	}
	return nil
}

// Promote pushes a planned promotion to the upstream with the host user's
// git. A promotion that is not a fast-forward needs force, and then
// replaces the upstream's branch only if it is still where the plan saw
// it (--force-with-lease). The gate branch must still be at the planned
// commit.
func (m *Mirror) Promote(ctx context.Context, p *Promotion, force, prompt bool) error {
	if !p.FastForward && !force {
		return fmt.Errorf("%w: promoting %s to %s would discard %d upstream commit(s)", ErrNotFastForward, p.Ref, p.To, p.Lost)
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	r, err := m.open()
	if err != nil {
		return err
	}
	if tip, err := r.tip(p.Branch); err != nil || tip != p.Commit {
		return fmt.Errorf("%w: %s", ErrMoved, p.Ref)
	}
	args := []string{"push", "--quiet", "--porcelain", "--no-verify", "--no-recurse-submodules"}
	if !p.FastForward {
		old := p.Old
		if old == ZeroID {
			old = ""
		}
		args = append(args, "--force-with-lease="+headsPrefix+p.To+":"+old)
		p.Forced = true
	}
	args = append(args, "--", m.Upstream, p.Commit+":"+headsPrefix+p.To)
	cmd := m.upstreamGit(ctx, prompt, args...)
	var errb, outb bytes.Buffer
	cmd.Stderr = &limitedBuffer{max: 8192, b: &errb}
	cmd.Stdout = &limitedBuffer{max: 8192, b: &outb}
	entry := AuditEntry{Time: m.Now().UTC(), Type: "promote", Ref: headsPrefix + p.Branch, Old: p.Old, New: p.Commit,
		Forced: p.Forced, Upstream: m.Upstream + " " + headsPrefix + p.To}
	if err := cmd.Run(); err != nil {
		msg := gitError(errb.String(), err)
		for _, l := range strings.Split(outb.String(), "\n") { // porcelain: "!\tsrc:dst\t[rejected] (reason)"
			if strings.HasPrefix(l, "!") {
				msg = sanitizeLine(strings.TrimSpace(l[1:]))
			}
		}
		entry.Reason = msg
		_ = m.Audit(entry) // the push's failure is the error to report
		return &UpstreamError{Op: "push to", Upstream: m.Upstream, Msg: msg}
	}
	p.Pushed = true
	entry.Accepted = true
	var tx refTx
	cur, _ := r.ref(remotePrefix + p.To)
	tx.set(remotePrefix+p.To, p.Commit, cur)
	if err := m.commitTx(ctx, &tx, "promoted"); err != nil {
		return err
	}
	return m.Audit(entry)
}
