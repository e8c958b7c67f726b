package engine

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/copy"
)

// ReadFile reads one regular file out of a container, running or not, as
// a tar stream through the API: no process runs in the container for it.
// A file that is not there is an error wrapping fs.ErrNotExist; one that
// is not a regular file, or larger than max bytes, is an error too.
func (e *Engine) ReadFile(ctx context.Context, container, path string, max int64) ([]byte, error) {
	st, err := containers.Stat(e.on(ctx), container, path)
	if errors.Is(err, copy.ErrENOENT) {
		return nil, fmt.Errorf("%s in %s: %w", path, container, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("stat %s in %s: %w", path, container, notFound(err))
	}
	if st.Mode.IsDir() {
		return nil, fmt.Errorf("%s in %s is a directory", path, container)
	}
	if st.Size > max {
		return nil, fmt.Errorf("%s in %s is larger than %d bytes", path, container, max)
	}
	out, outW := io.Pipe()
	get, err := containers.CopyToArchive(e.on(ctx), container, path, outW)
	if err != nil {
		return nil, fmt.Errorf("copying %s out of %s: %w", path, container, notFound(err))
	}
	go func() { outW.CloseWithError(get()) }()
	defer out.CloseWithError(errors.New("read ended"))
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("copying %s out of %s: the archive holds no file", path, container)
		}
		if err != nil {
			return nil, fmt.Errorf("copying %s out of %s: %w", path, container, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > max {
			return nil, fmt.Errorf("%s in %s is larger than %d bytes", path, container, max)
		}
		b, err := io.ReadAll(io.LimitReader(tr, max+1))
		if err != nil {
			return nil, fmt.Errorf("copying %s out of %s: %w", path, container, err)
		}
		if int64(len(b)) > max {
			return nil, fmt.Errorf("%s in %s is larger than %d bytes", path, container, max)
		}
		return b, nil
	}
}
