package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// LockName is the lock file every locked directory holds.
const LockName = ".lock"

// CorruptError reports a record that exists but cannot be decoded.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt record %s: %v", e.Path, e.Err)
}
func (e *CorruptError) Unwrap() error { return e.Err }

// Lock takes the exclusive advisory lock of dir (creating dir and its lock
// file as needed) and returns the function that releases it. The lock is
// released by the kernel if the process dies.
func Lock(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, LockName), os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		_ = f.Close() // never written; the flock's error is the one to report
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	// Closing releases the lock; the file was never written, so its close
	// has nothing to report.
	return func() { _ = f.Close() }, nil
}

// WriteFileLocked writes data to path atomically. The caller holds the lock
// of path's directory (or needs none); readers see the old or the new
// content, never a mix, and a crash leaves one of the two.
func WriteFileLocked(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok { // a step failed, and its error is the one returned
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// WriteFile locks path's directory and writes data atomically.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	unlock, err := Lock(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer unlock()
	return WriteFileLocked(path, data, perm)
}

// Update reads path, passes its content (nil if absent) to fn and writes
// what fn returns, all under the directory's lock: a read-modify-write that
// no concurrent Update can interleave with. fn returning nil data and nil
// error leaves the file unchanged.
func Update(path string, fn func(old []byte) ([]byte, error)) error {
	unlock, err := Lock(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer unlock()
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	data, err := fn(old)
	if err != nil || data == nil {
		return err
	}
	return WriteFileLocked(path, data, 0o600)
}

// ReadJSON decodes the record at path into v. A missing file is an error
// matching fs.ErrNotExist; an undecodable one is a *CorruptError.
func ReadJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &CorruptError{Path: path, Err: err}
	}
	return nil
}

// WriteJSON writes v as the record at path, atomically and locked.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(path, append(data, '\n'), 0o600)
}

// WriteJSONLocked is WriteJSON for a caller that holds the directory's lock.
func WriteJSONLocked(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileLocked(path, append(data, '\n'), 0o600)
}

// UpdateJSON is Update for a JSON record: fn gets the decoded record
// (zero-valued if absent) and changes it in place.
func UpdateJSON[T any](path string, fn func(rec *T, exists bool) error) error {
	return Update(path, func(old []byte) ([]byte, error) {
		var rec T
		exists := old != nil
		if exists {
			if err := json.Unmarshal(old, &rec); err != nil {
				return nil, &CorruptError{Path: path, Err: err}
			}
		}
		if err := fn(&rec, exists); err != nil {
			return nil, err
		}
		data, err := json.MarshalIndent(&rec, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(data, '\n'), nil
	})
}
