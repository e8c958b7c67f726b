// What replacing a container by another needs: a name set aside, and the
// files carried over.

package engine

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/copy"
)

// CopyBetween copies path (a file or a directory, with what it holds) out
// of container from into the directory dir of container to, as a tar stream
// through the API, every file owned by uid:gid as the target container sees
// them; modes are kept. The owners are set here because Podman's archives
// of a stopped container with an automatic user namespace carry host ids,
// which no other container can map. Either container may be stopped or only
// created. It reports false, and copies nothing, when from has no path.
func (e *Engine) CopyBetween(ctx context.Context, from, path, to, dir string, uid, gid int) (bool, error) {
	if _, err := containers.Stat(e.on(ctx), from, path); err != nil {
		if errors.Is(err, copy.ErrENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat %s in %s: %w", path, from, notFound(err))
	}
	out, outW := io.Pipe()
	get, err := containers.CopyToArchive(e.on(ctx), from, path, outW)
	if err != nil {
		return false, fmt.Errorf("copying %s out of %s: %w", path, from, notFound(err))
	}
	go func() { outW.CloseWithError(get()) }()
	in, inW := io.Pipe()
	go func() { inW.CloseWithError(chownTar(out, inW, uid, gid)) }()
	put, err := containers.CopyFromArchiveWithOptions(e.on(ctx), to, dir, in, new(containers.CopyOptions).WithChown(false))
	if err == nil {
		err = put()
	}
	in.CloseWithError(errors.New("copy ended"))
	out.CloseWithError(errors.New("copy ended"))
	if err != nil {
		return false, fmt.Errorf("copying %s into %s: %w", path, to, notFound(err))
	}
	return true, nil
}

// chownTar copies a tar stream, every entry owned by uid:gid.
func chownTar(r io.Reader, w io.Writer, uid, gid int) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// RenameContainer gives a container another name.
func (e *Engine) RenameContainer(ctx context.Context, id, name string) error {
	return notFound(containers.Rename(e.on(ctx), id, new(containers.RenameOptions).WithName(name)))
}
