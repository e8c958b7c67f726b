package policy

import (
	"context"
	"os"
	"path/filepath"
	"regexp"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/store"
)

// Probe runs a command in a throwaway container of an image and returns
// its output and exit code; an error means it could not run (lib/engine's
// RunProbe does this).
type Probe func(ctx context.Context, image string, command ...string) (output string, exitCode int, err error)

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// ImageMirrors are the hosts an image's package manager uses (what the
// distribution-mirrors source follows), read once per image with probe and
// kept under DATA/shield/mirrors. terok-image build reads them after each
// build, so that starting a task normally finds them there. Nil when the
// image cannot be probed.
func ImageMirrors(ctx context.Context, paths config.Paths, image string, probe Probe) []string {
	cache := filepath.Join(paths.Data, "shield", "mirrors", unsafeName.ReplaceAllString(image, "_")+".json")
	var hosts []string
	if store.ReadJSON(cache, &hosts) == nil {
		return hosts
	}
	out, code, err := probe(ctx, image, "sh", "-c",
		"cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources /etc/yum.repos.d/*.repo 2>/dev/null; true")
	if err != nil || code != 0 {
		return nil
	}
	hosts = ParseSources(out)
	if hosts == nil {
		hosts = []string{}
	}
	// A cache that cannot be written only costs a probe next time.
	if err := os.MkdirAll(filepath.Dir(cache), 0o700); err == nil {
		_ = store.WriteJSONLocked(cache, hosts)
	}
	return hosts
}
