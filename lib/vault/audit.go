package vault

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// AuditEntry is one line of the vault's audit log: one proxied request.
// It never holds a body, a header, a query string or a secret.
type AuditEntry struct {
	Time       time.Time `json:"time"`
	Task       string    `json:"task"`
	Project    string    `json:"project,omitempty"`
	Provider   string    `json:"provider,omitempty"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	BytesIn    int64     `json:"bytes_in"`
	BytesOut   int64     `json:"bytes_out"`
	DurationMS float64   `json:"duration_ms"`
	Outcome    string    `json:"outcome"`
}

// AuditLog appends entries to one log file from a single writer
// goroutine, so its lines are in the order they were recorded. Each batch
// is written at once, in one write under a flock of the file (several
// wardens share the log), so a crash of the process loses nothing; the
// file is synced within auditSync of a write and at Close, so a crash of
// the host may lose the last second.
type AuditLog struct {
	path string
	ch   chan AuditEntry
	done chan struct{}

	mu     sync.RWMutex
	closed bool
	err    error // the first write error, returned by Close
}

// OpenAudit opens (creating, 0600) the log at path and starts its writer.
func OpenAudit(path string) (*AuditLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vault audit log: %w", err)
	}
	a := &AuditLog{path: path, ch: make(chan AuditEntry, 1024), done: make(chan struct{})}
	go a.write(f)
	return a, nil
}

// Record queues e; it blocks only while the writer is 1024 entries behind.
// After Close it does nothing.
func (a *AuditLog) Record(e AuditEntry) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if !a.closed {
		a.ch <- e
	}
}

// Close writes what is queued, syncs and closes the log.
func (a *AuditLog) Close() error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.ch)
	}
	a.mu.Unlock()
	<-a.done
	return a.err
}

func (a *AuditLog) write(f *os.File) {
	defer close(a.done)
	defer f.Close()
	tick := time.NewTicker(auditSync)
	defer tick.Stop()
	var buf bytes.Buffer
	dirty := false
	fail := func(err error) {
		if err != nil && a.err == nil {
			a.err = fmt.Errorf("vault audit log %s: %w", a.path, err)
		}
	}
	for {
		select {
		case <-tick.C:
			if dirty {
				fail(f.Sync())
				dirty = false
			}
			continue
		case e, ok := <-a.ch:
			if !ok {
				if dirty {
					fail(f.Sync())
				}
				return
			}
			buf.Reset()
			appendLine(&buf, e)
		}
	more:
		for buf.Len() < 1<<20 {
			select {
			case e, ok := <-a.ch:
				if !ok {
					break more
				}
				appendLine(&buf, e)
			default:
				break more
			}
		}
		fail(writeLocked(f, buf.Bytes()))
		dirty = true
	}
}

func appendLine(buf *bytes.Buffer, e AuditEntry) {
	line, _ := json.Marshal(e) // plain fields: never fails
	buf.Write(line)
	buf.WriteByte('\n')
}

// auditSync bounds how long a written line may stay unsynced.
const auditSync = time.Second

func writeLocked(f *os.File, b []byte) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }() // closing the file releases it anyway
	_, err := f.Write(b)
	return err
}

// auditPoll is how often ReadAudit looks for new lines when following.
var auditPoll = 200 * time.Millisecond

// ReadAudit calls fn for each entry of the log at path, in order, that is
// of task ("": every task). With follow it then waits for new lines until
// ctx ends (returning nil), and starts over if the log is replaced or
// truncated. A line that does not decode is skipped; a line still being
// written is read once it is whole. A missing log is an empty one.
func ReadAudit(ctx context.Context, path, task string, follow bool, fn func(AuditEntry) error) error {
	var (
		f       *os.File
		r       *bufio.Reader
		partial []byte
		offset  int64
	)
	defer func() {
		if f != nil {
			_ = f.Close() // read-only: nothing to flush
		}
	}()
	for {
		if f == nil {
			var err error
			f, err = os.Open(path)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				f = nil
			case err != nil:
				return err
			default:
				r, partial, offset = bufio.NewReader(f), nil, 0
			}
		}
		if f != nil {
			for {
				chunk, err := r.ReadBytes('\n')
				offset += int64(len(chunk))
				if err == nil {
					line := append(partial, chunk...)
					partial = nil
					var e AuditEntry
					if json.Unmarshal(line, &e) == nil && (task == "" || e.Task == task) {
						if err := fn(e); err != nil {
							return err
						}
					}
					continue
				}
				partial = append(partial, chunk...)
				if err != io.EOF {
					return err
				}
				break
			}
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(auditPoll):
		}
		if f != nil && replaced(f, path, offset) {
			_ = f.Close() // read-only: nothing to flush; the new file is opened next
			f = nil
		}
	}
}

// replaced: the path names another file now, or this one shrank below
// what was read.
func replaced(f *os.File, path string, offset int64) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	if err1 != nil || err2 != nil {
		return true
	}
	return !os.SameFile(a, b) || b.Size() < offset
}
