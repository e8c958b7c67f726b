package hostcheck

import (
	"context"
	"fmt"
	"strings"
)

// OrphanFix is the orphans check's fix.
const OrphanFix = "terok doctor --fix (it asks first; --yes for scripts)"

// checkOrphans reports what terok made for tasks that no record claims
// (lib/task FindOrphans, through opts.Orphans): a warning listing them.
func checkOrphans(ctx context.Context, find func(context.Context) ([]string, error)) Result {
	r := Result{Check: "orphans"}
	lines, err := find(ctx)
	switch {
	case err != nil:
		r.Status, r.Detail, r.Fix = Warn, "could not look: "+err.Error(), "make Podman answer (terok doctor --only podman), then terok doctor --only orphans"
	case len(lines) == 0:
		r.Status, r.Detail = OK, "nothing of a task without a record"
	default:
		r.Status, r.Fix = Warn, OrphanFix
		r.Detail = fmt.Sprintf("%d left by tasks without a record: %s", len(lines), strings.Join(lines, "; "))
	}
	return r
}
