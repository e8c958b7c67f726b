// What replacing a container by another needs: a name set aside, and the
// files carried over.

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/copy"
)

// CopyBetween copies path (a file or a directory, with what it holds) out
// of container from into the directory dir of container to, as a tar stream
// through the API. Podman's archive gives every file the source
// container's user as its owner; that owner is kept in the target (mapped
// through each container's user namespace), and so are the modes. Either
// container may be stopped or only created. It reports false, and copies nothing, when from has no path.
func (e *Engine) CopyBetween(ctx context.Context, from, path, to, dir string) (bool, error) {
	if _, err := containers.Stat(e.on(ctx), from, path); err != nil {
		if errors.Is(err, copy.ErrENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat %s in %s: %w", path, from, notFound(err))
	}
	r, w := io.Pipe()
	get, err := containers.CopyToArchive(e.on(ctx), from, path, w)
	if err != nil {
		return false, fmt.Errorf("copying %s out of %s: %w", path, from, notFound(err))
	}
	go func() { w.CloseWithError(get()) }()
	put, err := containers.CopyFromArchiveWithOptions(e.on(ctx), to, dir, r, new(containers.CopyOptions).WithChown(false))
	if err == nil {
		err = put()
	}
	r.CloseWithError(errors.New("copy ended"))
	if err != nil {
		return false, fmt.Errorf("copying %s into %s: %w", path, to, notFound(err))
	}
	return true, nil
}

// RenameContainer gives a container another name.
func (e *Engine) RenameContainer(ctx context.Context, id, name string) error {
	return notFound(containers.Rename(e.on(ctx), id, new(containers.RenameOptions).WithName(name)))
}
