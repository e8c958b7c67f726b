package gate

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseLsRemote(t *testing.T) {
	out := "ref: refs/heads/trunk\tHEAD\n" +
		"1111111111111111111111111111111111111111\tHEAD\n" +
		"2222222222222222222222222222222222222222\trefs/heads/trunk\n" +
		"3333333333333333333333333333333333333333\trefs/heads/a/b\n" +
		"4444444444444444444444444444444444444444\trefs/tags/v1\n" +
		"5555555555555555555555555555555555555555\trefs/pull/1/head\n"
	r := parseLsRemote(out)
	if r.Head != "trunk" || !slices.Equal(r.Branches, []string{"a/b", "trunk"}) {
		t.Fatalf("parseLsRemote = %+v", r)
	}
	if r := parseLsRemote(""); r.Head != "" || r.Branches != nil {
		t.Fatalf("empty output: %+v", r)
	}
}

// Probe against the real git: a repository's branches and HEAD, an empty
// repository, and a path that is no repository (its reason, not git's
// generic last line).
func TestProbe(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()
	up := te.Upstream("up")
	te.Git(up, "branch", "dev")
	r, err := Probe(ctx, up, te.Getenv, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Head != "main" || !slices.Equal(r.Branches, []string{"dev", "main"}) {
		t.Fatalf("Probe = %+v", r)
	}

	empty := filepath.Join(te.Root, "empty.git")
	te.Git(te.Root, "init", "-q", "--bare", empty)
	if r, err := Probe(ctx, empty, te.Getenv, 30*time.Second); err != nil || len(r.Branches) != 0 {
		t.Fatalf("empty repository: %+v, %v", r, err)
	}

	_, err = Probe(ctx, te.Root+"/nowhere", te.Getenv, 30*time.Second)
	var ue *UpstreamError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "does not appear to be a git repository") {
		t.Fatalf("missing upstream: %v", err)
	}
	if !strings.Contains(ue.Hint(), "git ls-remote") {
		t.Errorf("hint %q", ue.Hint())
	}
}
