package engine

import (
	"bytes"
	"context"
	"sync"

	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// AttachOutput attaches to a container's stdout and stderr and calls out and
// errOut with each line (ending in "\n", but for a last line without one)
// until the container stops. It sends on ready once attached, so a caller
// that starts the container after that loses none of its output — the way
// `podman run` streams, and without the polling delay of following the log
// file.
func (e *Engine) AttachOutput(ctx context.Context, id string, out, errOut func(string), ready chan bool) error {
	so, se := &lineWriter{fn: out}, &lineWriter{fn: errOut}
	err := containers.Attach(e.on(ctx), id, nil, so, se, ready, nil)
	so.flush()
	se.flush()
	return notFound(err)
}

// lineWriter turns a byte stream into calls of fn, one per line.
type lineWriter struct {
	mu  sync.Mutex
	fn  func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if w.fn != nil {
			w.fn(string(w.buf[:i+1]))
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 && w.fn != nil {
		w.fn(string(w.buf))
	}
	w.buf = nil
}
