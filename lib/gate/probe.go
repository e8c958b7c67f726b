package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Remote is what an upstream offers, as `git ls-remote` sees it.
type Remote struct {
	Head     string   // the branch the upstream's HEAD names; "" if none (an empty repository)
	Branches []string // its branches, sorted
}

// Probe reaches upstream (a URL or an absolute path) the way the gate's
// sync does — the host user's own git configuration and credentials, no
// terminal prompt — and lists its branches, within timeout. It is how a
// person's choice of upstream is checked before a project names it: an
// upstream that does not answer is an *UpstreamError saying why.
func Probe(ctx context.Context, upstream string, getenv func(string) string, timeout time.Duration) (Remote, error) {
	git, err := FindGit(getenv)
	if err != nil {
		return Remote{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := hostGit(ctx, git, getenv, false, "ls-remote", "--symref", "--", upstream)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &limitedBuffer{max: 8192, b: &errb}
	if err := cmd.Run(); err != nil {
		msg := firstFatal(errb.String())
		if msg == "" {
			msg = gitError(errb.String(), err)
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg = fmt.Sprintf("no answer within %s", timeout)
		}
		return Remote{}, &UpstreamError{Op: "reach", Upstream: upstream, Msg: msg}
	}
	return parseLsRemote(out.String()), nil
}

// firstFatal is git's first "fatal:" line: for an upstream it cannot
// read, the one saying why ("does not appear to be a git repository",
// "Repository not found"); the last is the generic "Could not read from
// remote repository."
func firstFatal(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "fatal:") {
			return sanitizeLine(l)
		}
	}
	return ""
}

// parseLsRemote reads `git ls-remote --symref` output: "ref: refs/heads/B\tHEAD"
// names the default branch, "OID\trefs/heads/B" each branch.
func parseLsRemote(out string) Remote {
	var r Remote
	for _, line := range strings.Split(out, "\n") {
		left, ref, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok {
			continue
		}
		if target, sym := strings.CutPrefix(left, "ref: "); sym {
			if ref == "HEAD" {
				r.Head = strings.TrimPrefix(target, headsPrefix)
			}
			continue
		}
		if b, ok := strings.CutPrefix(ref, headsPrefix); ok {
			r.Branches = append(r.Branches, b)
		}
	}
	sort.Strings(r.Branches)
	return r
}
