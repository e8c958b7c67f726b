package task

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/specgen"

	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/project"
)

// MaxDiffOutput bounds what the diff script may print (the patch
// included), so that a huge workspace fails cleanly instead of filling
// memory.
const MaxDiffOutput = 64 << 20

// Where the diff was computed.
const (
	DiffInTask    = "task"    // an exec in the task's running container
	DiffInScratch = "scratch" // a short-lived container on the task's workspace
)

// DiffFile is one file the gate does not have as the workspace has it.
type DiffFile struct {
	Path string `json:"path"`
	// Status is the net change from the gate's copy to the working tree:
	// added, modified, deleted, type-changed, or unchanged (changed and
	// changed back).
	Status    string   `json:"status"`
	Additions int      `json:"additions"`
	Deletions int      `json:"deletions"`
	Binary    bool     `json:"binary"`
	Staged    bool     `json:"staged"`    // changed in the index
	Unstaged  bool     `json:"unstaged"`  // changed in the working tree, not the index
	Untracked bool     `json:"untracked"` // not known to git
	Commits   []string `json:"commits"`   // the unpushed commits that change it
}

// DiffCommit is one commit of the workspace's HEAD that the gate lacks.
type DiffCommit struct {
	Commit      string    `json:"commit"`
	Parents     []string  `json:"parents"`
	Author      string    `json:"author"`
	AuthorEmail string    `json:"author_email"`
	Time        time.Time `json:"time"`
	Subject     string    `json:"subject"`
	Files       []string  `json:"files"`
}

// Diff is what a task's workspace has that the gate lacks: uncommitted
// changes (staged, unstaged, untracked) and unpushed commits.
type Diff struct {
	Head        string // the workspace's HEAD, "" before its first commit
	Branch      string // its checked-out branch, "" when detached
	Upstream    string // the gate's commit compared with, "" for none
	UpstreamRef string // the branch it is the tip of: the task's, or the base
	Where       string // DiffInTask or DiffInScratch
	Files       []DiffFile
	Commits     []DiffCommit // newest first
	Patch       string       // the net change, with patch only
}

// ErrNoWorkspace: the task's workspace has no git repository (yet).
var ErrNoWorkspace = errors.New("the task's workspace has no git repository yet")

// diffScript runs in the workspace as the agent's user; it prints one line
// per section, "NAME BASE64", and reads everything with git alone. Its
// arguments: 1 for a patch (else 0), then pairs of REF COMMIT, the gate's
// copies to compare with, in order of preference (the first commit the
// workspace has wins). External diff drivers and text conversions are off:
// the workspace's git config is the agent's.
const diffScript = `set -u -o pipefail
export LC_ALL=C GIT_OPTIONAL_LOCKS=0 GIT_TERMINAL_PROMPT=0 GIT_PAGER=cat
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'
cd /workspace || exit 3
[ -e .git ] || { echo "no git repository in /workspace" >&2; exit 3; }
patch=$1; shift
sect() {
	local name=$1 out; shift
	if ! out=$("$@" | base64 -w0; exit "${PIPESTATUS[0]}"); then
		echo "git failed reading the workspace ($name)" >&2
		exit 4
	fi
	printf '%s %s\n' "$name" "$out"
}
D="--no-renames --no-ext-diff --no-textconv"
head=$(git rev-parse -q --verify 'HEAD^{commit}') || head=""
up="" upref=""
while [ $# -ge 2 ]; do
	if [ -n "$2" ] && git cat-file -e "$2^{commit}" 2>/dev/null; then up=$2 upref=$1; break; fi
	shift 2
done
base=${up:-$(git hash-object -t tree /dev/null)}
unpushed() {
	[ -n "$head" ] || return 0
	git log -z $D --format=%x1e%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%s --numstat HEAD ${up:+"^$up"}
}
untracked() {
	git ls-files -z --others --exclude-standard | while IFS= read -r -d '' f; do
		git diff --no-index $D "$@" -- /dev/null "$f"
		[ $? -le 1 ] || exit 1
	done
}
sect head printf %s "$head"
sect branch sh -c 'git symbolic-ref -q --short HEAD | tr -d "\n"; exit 0'
sect upstream printf %s "$up"
sect upstream_ref printf %s "$upref"
sect log unpushed
sect status git status --porcelain=v1 -z --untracked-files=all --no-renames
sect numstat git diff --numstat -z $D "$base"
sect namestatus git diff --name-status -z $D "$base"
sect untracked untracked --numstat -z
if [ "$patch" = 1 ]; then
	sect patch git diff $D "$base"
	sect untracked_patch untracked
fi
`

// Diff computes, inside a container and with git, what the task's
// workspace has that the gate lacks: the uncommitted changes (as `git
// status` sees them, untracked files included) and the commits on HEAD
// that are not on the gate's copy of the task's branch, or of its base
// branch while the task's branch was never pushed. The workspace is never
// read from the host. A running task is asked through an exec; for one
// that is not running, a short-lived container of the task's image runs on
// its workspace, with no network and the task's hardening, and is removed.
func (r *Runner) Diff(ctx context.Context, rec Record, withPatch bool) (*Diff, error) {
	args := []string{"bash", "-c", diffScript, "terok-diff", "0"}
	if withPatch {
		args[4] = "1"
	}
	args = append(args, r.gateCopies(rec)...)
	var out, errb limitedBuffer
	out.max, errb.max = MaxDiffOutput, 64<<10
	x := engine.Exec{Cmd: args, Stdout: &out, Stderr: &errb}

	where := DiffInTask
	st, err := r.Engine.InspectContainer(ctx, rec.Container)
	if err != nil && !errors.Is(err, engine.ErrNoSuchContainer) {
		return nil, err
	}
	var code int
	if err == nil && st.Running {
		code, err = r.Exec(ctx, rec, x)
		if errors.Is(err, engine.ErrNotRunning) {
			st.Running = false // it ended meanwhile
		}
	}
	if err != nil || !st.Running {
		where = DiffInScratch
		code, err = r.inScratch(ctx, rec, x)
	}
	if err != nil {
		return nil, err
	}
	if out.over || errb.over {
		return nil, fmt.Errorf("the diff is larger than %d MiB", MaxDiffOutput>>20)
	}
	switch code {
	case 0:
	case 3:
		return nil, ErrNoWorkspace
	default:
		return nil, fmt.Errorf("computing the diff failed (exit %d): %s", code, strings.TrimSpace(errb.String()))
	}
	d, err := parseDiff(out.Bytes())
	if err != nil {
		return nil, err
	}
	d.Where = where
	return d, nil
}

// gateCopies are the diff script's REF COMMIT pairs: the gate's tip of the
// task's branch, then of its base branch (read on the host, from the
// gate), then the workspace's own remote-tracking copies of both (its view
// of the gate at its last push or clone), for when the gate's tip is not in
// the workspace (the base moved on in the gate).
func (r *Runner) gateCopies(rec Record) []string {
	var task, base string
	if p, err := (project.Store{Paths: r.Paths}).Load(rec.Project); err == nil {
		if m, err := gate.New(r.Paths, rec.Project, p, r.Global, r.Getenv); err == nil {
			task, _ = m.Tip(rec.Branch)
			base, _ = m.Tip(rec.BaseBranch)
		}
	}
	pairs := []string{rec.Branch, task}
	if task == "" {
		pairs = append(pairs, rec.BaseBranch, base)
	}
	pairs = append(pairs, rec.Branch, "refs/remotes/origin/"+rec.Branch, rec.BaseBranch, "refs/remotes/origin/"+rec.BaseBranch)
	return pairs
}

// inScratch runs x in a short-lived container on the task's workspace:
// the task's image (the project's current one when that is gone), the
// task's hardening, no network. The task is locked meanwhile, so that no
// restart or followup starts it on the same workspace.
func (r *Runner) inScratch(ctx context.Context, rec Record, x engine.Exec) (int, error) {
	unlock, err := r.taskLock(rec.ID)
	if err != nil {
		return -1, err
	}
	defer unlock()
	img := rec.Image
	if found, err := r.Engine.FirstLocalImage(ctx, img); err != nil {
		return -1, err
	} else if found == "" {
		if img, err = r.currentImage(ctx, rec.Project); err != nil {
			return -1, err
		}
	}
	seccomp, err := SeccompProfile(filepath.Join(r.Paths.Data, "seccomp"))
	if err != nil {
		return -1, err
	}
	b := make([]byte, 4)
	rand.Read(b)
	labels := r.taskLabels(rec)
	labels[LabelScratch] = "diff"
	s := Spec(Container{
		Name: rec.Container + "-diff-" + hex.EncodeToString(b), Image: img,
		Command: []string{"--", "sleep", "600"},
		Labels:  labels, Volume: rec.Volume, WorkDir: Workspace, Seccomp: seccomp,
	}, rec.Hardening)
	s.Entrypoint = []string{EntryPoint}
	s.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
	lock, err := r.engineLock()
	if err != nil {
		return -1, err
	}
	id, err := r.Engine.CreateContainer(ctx, s)
	if err == nil {
		defer func() {
			c := context.WithoutCancel(ctx)
			// Cleanup once the result is decided: a container left over
			// is removed with its task.
			_ = r.Engine.StopContainer(c, id, 0)
			_ = r.removeContainer(c, id)
		}()
		err = r.Engine.StartContainer(ctx, id)
	}
	lock()
	if err != nil {
		return -1, fmt.Errorf("starting a container on the task's workspace: %w", err)
	}
	return r.Engine.Exec(ctx, id, engine.Exec{
		Cmd: x.Cmd, User: fmt.Sprintf("%d:%d", AgentUID, AgentUID), WorkDir: Workspace,
		Stdout: x.Stdout, Stderr: x.Stderr,
	})
}

// LabelScratch marks a short-lived container that terok runs on a task's
// workspace (its value says what for).
const LabelScratch = "terok.scratch"

type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.over = true
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

var _ io.Writer = (*limitedBuffer)(nil)

// parseDiff reads the diff script's output.
func parseDiff(out []byte) (*Diff, error) {
	sect := map[string][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, b64, ok := strings.Cut(line, " ")
		if !ok {
			// An empty section prints "NAME " and may lose its space.
			name, b64 = line, ""
		}
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("reading the diff: section %s: %w", name, err)
		}
		sect[name] = b
	}
	for _, n := range []string{"head", "upstream", "log", "status", "numstat", "namestatus", "untracked"} {
		if _, ok := sect[n]; !ok {
			return nil, fmt.Errorf("reading the diff: no %s section", n)
		}
	}
	d := &Diff{Head: string(sect["head"]), Branch: string(sect["branch"]),
		Upstream: string(sect["upstream"]), UpstreamRef: string(sect["upstream_ref"])}
	if p, ok := sect["patch"]; ok {
		d.Patch = string(p) + string(sect["untracked_patch"])
	}

	byCommit := map[string][]string{}
	for _, rec := range strings.Split(string(sect["log"]), "\x1e") {
		if rec == "" {
			continue
		}
		header, rest, _ := strings.Cut(rec, "\x00")
		f := strings.Split(header, "\x1f")
		if len(f) != 6 {
			return nil, fmt.Errorf("reading the diff: a commit line has %d fields", len(f))
		}
		c := DiffCommit{Commit: f[0], Parents: strings.Fields(f[1]), Author: f[2], AuthorEmail: f[3], Subject: f[5], Files: []string{}}
		c.Time, _ = time.Parse(time.RFC3339, f[4])
		c.Time = c.Time.UTC()
		for _, n := range parseNumstat(strings.TrimLeft(rest, "\n")) {
			c.Files = append(c.Files, n.path)
			byCommit[n.path] = append(byCommit[n.path], c.Commit)
		}
		d.Commits = append(d.Commits, c)
	}

	files := map[string]*DiffFile{}
	get := func(p string) *DiffFile {
		if f, ok := files[p]; ok {
			return f
		}
		f := &DiffFile{Path: p, Status: "unchanged", Commits: []string{}}
		files[p] = f
		return f
	}
	for _, n := range parseNumstat(string(sect["numstat"])) {
		f := get(n.path)
		f.Additions, f.Deletions, f.Binary = n.add, n.del, n.binary
	}
	ns := strings.Split(strings.TrimSuffix(string(sect["namestatus"]), "\x00"), "\x00")
	for i := 0; i+1 < len(ns); i += 2 {
		get(ns[i+1]).Status = statusName(ns[i])
	}
	for _, n := range parseNumstat(string(sect["untracked"])) {
		f := get(n.path)
		f.Additions, f.Deletions, f.Binary = n.add, n.del, n.binary
		f.Status, f.Untracked = "added", true
	}
	for _, e := range strings.Split(string(sect["status"]), "\x00") {
		if len(e) < 4 {
			continue
		}
		x, y, p := e[0], e[1], e[3:]
		f := get(p)
		switch {
		case x == '?' && y == '?':
			f.Untracked = true
			if f.Status == "unchanged" {
				f.Status = "added"
			}
		default:
			f.Staged = x != ' '
			f.Unstaged = y != ' '
		}
	}
	for p, cs := range byCommit {
		f := get(p)
		for i := len(cs) - 1; i >= 0; i-- { // oldest first
			f.Commits = append(f.Commits, cs[i])
		}
	}
	for _, f := range files {
		d.Files = append(d.Files, *f)
	}
	sort.Slice(d.Files, func(i, j int) bool { return d.Files[i].Path < d.Files[j].Path })
	return d, nil
}

type numstat struct {
	path     string
	add, del int
	binary   bool
}

// parseNumstat reads `git diff --numstat -z`: "ADD\tDEL\tPATH\0", or, for
// a pair of paths (as --no-index prints), "ADD\tDEL\t\0OLD\0NEW\0", where
// NEW is the path.
func parseNumstat(s string) []numstat {
	var out []numstat
	tok := strings.Split(s, "\x00")
	for i := 0; i < len(tok); i++ {
		f := strings.SplitN(tok[i], "\t", 3)
		if len(f) != 3 {
			continue
		}
		n := numstat{path: f[2]}
		if f[0] == "-" && f[1] == "-" {
			n.binary = true
		} else {
			n.add, _ = strconv.Atoi(f[0])
			n.del, _ = strconv.Atoi(f[1])
		}
		if n.path == "" && i+2 < len(tok) {
			n.path = tok[i+2]
			i += 2
		}
		out = append(out, n)
	}
	return out
}

func statusName(s string) string {
	switch s {
	case "A":
		return "added"
	case "D":
		return "deleted"
	case "M":
		return "modified"
	case "T":
		return "type-changed"
	}
	return "modified"
}
