package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/specgen"
	"go.podman.io/storage/types"
)

// AutoUserNSSize is the size of every automatic user namespace terok asks
// for: 65536 ids, the usual range of a user. When every container of a
// store asks for the same size, the ranges Podman hands out stay whole
// blocks of it and a free one is never split (see createContiguous).
const AutoUserNSSize = 65536

// AutoUserNS sets s up for a user namespace of size ids from the engine's
// automatic range (Podman's --userns=auto:size=N; terok's containers ask
// for AutoUserNSSize). Over the REST API the mode alone is ignored: the
// mappings must say so too.
func AutoUserNS(s *specgen.SpecGenerator, size uint32) {
	s.UserNS = specgen.Namespace{NSMode: specgen.Auto}
	s.IDMappings = &types.IDMappingOptions{AutoUserNs: true,
		AutoUserNsOpts: types.AutoUserNsOptions{Size: size}}
}

// maxRangeTries bounds the creates createContiguous makes for one
// container.
const maxRangeTries = 8

// createContiguous creates the container s describes, which has an
// automatic user namespace, and makes sure its ids are one range of the
// host's.
//
// Podman 4.3.1's storage hands out the lowest free ids, in as many pieces
// as it takes. A container whose range is in pieces cannot use the
// kernel's idmapped mounts, so storage makes a chowned copy of the image's
// top layer for it, and then mounts that copy through an idmapped mount
// all the same: the copy's directory (0700, owned by a host id outside the
// mapping) is refused, and the container never starts ("creating overlay
// mount ... mapped/0/...: permission denied"; containers/storage fixed it
// in 1.45.4, "overlay: honor disableShifting"). Pieces come from removed
// containers of other sizes (Podman's own default is the image's highest
// id, so it differs by image).
//
// So when the range is in pieces, the container is removed, each piece but
// the last (each a whole free gap) is held by a placeholder container of
// exactly its size, and the container is created again: its range now
// starts at the last piece. The placeholders are removed once it is
// whole. They are probe containers (ProbeLabel), so RemoveProbes finds one
// a killed command left behind, and so does the next createContiguous
// that meets a gap. The caller holds the engine lock, so no other terok
// command takes the gaps meanwhile.
func (e *Engine) createContiguous(ctx context.Context, s *specgen.SpecGenerator) (string, error) {
	var holders []string
	defer func() {
		if testHookHolders != nil {
			testHookHolders(holders)
		}
		for _, h := range holders {
			_ = e.RemoveContainer(context.Background(), h)
		}
	}()
	for try := 1; ; try++ {
		r, err := containers.CreateWithSpec(e.on(ctx), s, nil)
		if err != nil {
			return "", err
		}
		uids, gids, err := e.idMaps(ctx, r.ID)
		if err == nil && contiguous(uids) && contiguous(gids) {
			return r.ID, nil
		}
		if rerr := e.RemoveContainer(context.Background(), r.ID); rerr != nil {
			return "", fmt.Errorf("removing container %s, whose user namespace is in pieces: %w", r.ID, rerr)
		}
		if err != nil {
			return "", err
		}
		if try == maxRangeTries {
			return "", fmt.Errorf("no free range of %d ids for the container's user namespace in %d tries "+
				"(its ranges were %s): removing stopped containers frees theirs", rangeSize(uids), try, strings.Join(mapStrings(uids), " "))
		}
		if try == 1 {
			// Placeholders left by a command killed meanwhile hold gaps
			// too; under the engine lock no other command's are in
			// flight.
			e.removeHolders(ctx)
		}
		gaps := uids
		if len(gids) > len(uids) {
			gaps = gids
		}
		// A probe image rather than the task's: a container gets its
		// image's labels, and a placeholder is no project's.
		image, err := e.FirstLocalImage(ctx, ProbeImages...)
		if err != nil || image == "" {
			image = s.Image
		}
		for _, g := range gaps[:len(gaps)-1] {
			h := specgen.NewSpecGenerator(image, false)
			h.Name = ProbeName()
			h.Command = []string{"true"}
			h.Labels = map[string]string{ProbeLabel: "1", holderLabel: "1"}
			AutoUserNS(h, uint32(g.Size))
			hr, err := containers.CreateWithSpec(e.on(ctx), h, nil)
			if err != nil {
				return "", fmt.Errorf("holding a gap of %d ids in the user namespaces' range: %w", g.Size, err)
			}
			holders = append(holders, hr.ID)
		}
	}
}

// holderLabel marks createContiguous's placeholders.
const holderLabel = "terok.userns-hold"

// removeHolders removes placeholders a killed command left behind.
func (e *Engine) removeHolders(ctx context.Context) {
	list, err := containers.List(e.on(ctx), new(containers.ListOptions).WithAll(true).
		WithFilters(map[string][]string{"label": {holderLabel + "=1"}}))
	if err != nil {
		return
	}
	for _, c := range list {
		_ = e.RemoveContainer(ctx, c.ID)
	}
}

// testHookHolders, if set, is told which placeholders createContiguous
// made, before it removes them.
var testHookHolders func([]string)

// idRange is one line of a container's id mapping.
type idRange struct{ Container, Host, Size int }

// idMaps reads a container's uid and gid mappings.
func (e *Engine) idMaps(ctx context.Context, id string) (uids, gids []idRange, err error) {
	d, err := containers.Inspect(e.on(ctx), id, nil)
	if err != nil {
		return nil, nil, notFound(err)
	}
	if d.HostConfig == nil || d.HostConfig.IDMappings == nil {
		return nil, nil, nil
	}
	if uids, err = parseIDMap(d.HostConfig.IDMappings.UIDMap); err != nil {
		return nil, nil, err
	}
	gids, err = parseIDMap(d.HostConfig.IDMappings.GIDMap)
	return uids, gids, err
}

// parseIDMap parses Podman's "container:host:size" lines.
func parseIDMap(lines []string) ([]idRange, error) {
	out := make([]idRange, 0, len(lines))
	for _, l := range lines {
		f := strings.Split(l, ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("id mapping %q: not container:host:size", l)
		}
		var n [3]int
		for i, s := range f {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("id mapping %q: %q is not a number", l, s)
			}
			n[i] = v
		}
		out = append(out, idRange{n[0], n[1], n[2]})
	}
	return out, nil
}

func rangeSize(m []idRange) int {
	n := 0
	for _, r := range m {
		n += r.Size
	}
	return n
}

func mapStrings(m []idRange) []string {
	out := make([]string, len(m))
	for i, r := range m {
		out[i] = fmt.Sprintf("%d:%d:%d", r.Container, r.Host, r.Size)
	}
	return out
}

// contiguous says whether a mapping is one range: each line goes on where
// the one before it ends, inside the container and on the host.
func contiguous(m []idRange) bool {
	for i := 1; i < len(m); i++ {
		p := m[i-1]
		if m[i].Container != p.Container+p.Size || m[i].Host != p.Host+p.Size {
			return false
		}
	}
	return true
}
