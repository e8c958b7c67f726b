package hostcheck

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestCheckOrphans(t *testing.T) {
	ctx := context.Background()
	find := func(lines []string, err error) func(context.Context) ([]string, error) {
		return func(context.Context) ([]string, error) { return lines, err }
	}
	if r := checkOrphans(ctx, find(nil, nil)); r.Status != OK || r.Fix != "" {
		t.Errorf("none: %+v", r)
	}
	r := checkOrphans(ctx, find([]string{"container a (task x, running)", "volume b (task x)"}, nil))
	if r.Status != Warn || r.Fix != OrphanFix || r.Detail != "2 left by tasks without a record: container a (task x, running); volume b (task x)" {
		t.Errorf("two: %+v", r)
	}
	if r := checkOrphans(ctx, find(nil, errors.New("no answer"))); r.Status != Warn || r.Fix == OrphanFix || !strings.Contains(r.Detail, "no answer") {
		t.Errorf("an error: %+v", r)
	}
	// Without a finder (terok setup's checks) there is no orphans record.
	for _, r := range Run(ctx, Options{Only: []string{"orphans"}}) {
		t.Errorf("a record without a finder: %+v", r)
	}
	if rs := Run(ctx, Options{Only: []string{"orphans"}, Orphans: find(nil, nil)}); len(rs) != 1 || rs[0].Check != "orphans" {
		t.Errorf("--only orphans: %+v", rs)
	}
}
