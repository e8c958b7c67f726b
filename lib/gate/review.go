package gate

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Review reads git objects only, with go-git, from the bare mirror: no
// working tree is made, no git command runs, and nothing the agent wrote
// (hooks, attributes, filters, submodules, symbolic links) is executed or
// followed.

// Branch is one branch of a mirror, as `terok-gate ls` prints it.
type Branch struct {
	Project   string    `json:"project"`
	Branch    string    `json:"branch"`
	Ref       string    `json:"ref"`
	Task      string    `json:"task"`
	Commit    string    `json:"commit"`
	Ahead     int       `json:"ahead"`
	Behind    int       `json:"behind"`
	Time      time.Time `json:"time"`
	Author    string    `json:"author"`
	Subject   string    `json:"subject"`
	Default   bool      `json:"default"`
	Protected bool      `json:"protected"`
}

// ErrNoRef is returned for a branch that the mirror does not have.
var ErrNoRef = errors.New("no such branch")

// List returns the mirror's branches, with the task that created each,
// how far each is ahead of and behind the default branch, and its last
// commit.
func (m *Mirror) List() ([]Branch, error) {
	r, err := m.open()
	if err != nil {
		return nil, err
	}
	heads, err := r.refs(headsPrefix)
	if err != nil {
		return nil, err
	}
	owners, err := records{m.StateDir}.owners()
	if err != nil {
		return nil, err
	}
	def := heads[headsPrefix+m.Policy.DefaultBranch]
	defSet, err := r.ancestors(def)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(heads))
	for n := range heads {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Branch
	for _, n := range names {
		id := heads[n]
		b := strings.TrimPrefix(n, headsPrefix)
		br := Branch{Project: m.Project, Branch: b, Ref: m.Project + "/" + b, Task: owners[n].Task, Commit: id,
			Default: b == m.Policy.DefaultBranch}
		br.Protected, _ = m.Policy.IsProtected(b)
		if c, err := r.commit(id); err == nil {
			br.Time = c.Committer.When.UTC()
			br.Author = sanitizeLine(c.Author.Name)
			br.Subject = subject(c.Message)
		}
		// Ahead: commits of the branch not on the default branch. Behind:
		// commits of the default branch that the branch lacks.
		mine, err := r.ancestors(id)
		if err != nil {
			return nil, err
		}
		for h := range mine {
			if !defSet[h] {
				br.Ahead++
			}
		}
		for h := range defSet {
			if !mine[h] {
				br.Behind++
			}
		}
		out = append(out, br)
	}
	return out, nil
}

func subject(msg string) string {
	s, _, _ := strings.Cut(strings.TrimLeft(msg, "\n"), "\n")
	return sanitizeLine(strings.TrimSpace(s))
}

// Commit is one commit, as `terok-gate log` prints it.
type Commit struct {
	Project        string    `json:"project"`
	Ref            string    `json:"ref"`
	Commit         string    `json:"commit"`
	Parents        []string  `json:"parents"`
	Author         string    `json:"author"`
	AuthorEmail    string    `json:"author_email"`
	AuthorTime     time.Time `json:"author_time"`
	Committer      string    `json:"committer"`
	CommitterEmail string    `json:"committer_email"`
	CommitTime     time.Time `json:"commit_time"`
	Subject        string    `json:"subject"`
	Message        string    `json:"message"`
}

// tip returns the commit a branch of the mirror points at.
func (r *repo) tip(branch string) (string, error) {
	if err := ValidBranchName(branch); err != nil {
		return "", invalid(err)
	}
	id, err := r.ref(headsPrefix + branch)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", fmt.Errorf("%w: %s", ErrNoRef, branch)
	}
	return id, nil
}

// Log returns the commits of branch that base lacks (base "" means the
// default branch; when branch is base, its whole history), newest first
// by commit time, at most max (0: no limit).
func (m *Mirror) Log(branch, base string, max int) ([]Commit, error) {
	r, err := m.open()
	if err != nil {
		return nil, err
	}
	tip, baseTip, err := m.tips(r, branch, base)
	if err != nil {
		return nil, err
	}
	var hashes []plumbing.Hash
	if baseTip == "" {
		err = r.walk([]string{tip}, nil, func(h plumbing.Hash) { hashes = append(hashes, h) })
	} else {
		hashes, err = r.exclusive(tip, baseTip)
	}
	if err != nil {
		return nil, err
	}
	var out []Commit
	for _, h := range hashes {
		c, err := r.commitAt(h)
		if err != nil {
			return nil, err
		}
		out = append(out, m.commitOf(branch, c))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CommitTime.After(out[j].CommitTime) })
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out, nil
}

// tips resolves a branch and its base ("" = the default branch); the base
// tip is "" when the branch is the base itself or the base is absent.
func (m *Mirror) tips(r *repo, branch, base string) (string, string, error) {
	tip, err := r.tip(branch)
	if err != nil {
		return "", "", err
	}
	if base == "" {
		base = m.Policy.DefaultBranch
		if branch == base {
			return tip, "", nil
		}
		b, err := r.ref(headsPrefix + base)
		return tip, b, err
	}
	if err := ValidBranchName(base); err != nil {
		return "", "", invalid(err)
	}
	b, err := r.tip(base)
	return tip, b, err
}

func (m *Mirror) commitOf(branch string, c *object.Commit) Commit {
	ps := make([]string, len(c.ParentHashes))
	for i, p := range c.ParentHashes {
		ps[i] = p.String()
	}
	return Commit{
		Project: m.Project, Ref: m.Project + "/" + branch, Commit: c.Hash.String(), Parents: ps,
		Author: c.Author.Name, AuthorEmail: c.Author.Email, AuthorTime: c.Author.When.UTC(),
		Committer: c.Committer.Name, CommitterEmail: c.Committer.Email, CommitTime: c.Committer.When.UTC(),
		Subject: subject(c.Message), Message: c.Message,
	}
}
