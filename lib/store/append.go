package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// AppendJSON appends each value as one JSON line to the log at path, in one
// write under a flock of the log itself (several writers, one log), and
// syncs it. The log is made 0600 if new; a symlink in its place is refused.
// It is how audit logs are written.
func AppendJSON(path string, values ...any) error {
	if len(values) == 0 {
		return nil
	}
	var buf []byte
	for _, v := range values {
		line, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return f.Sync()
}
