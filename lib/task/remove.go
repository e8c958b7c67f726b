package task

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/warden"
)

// Remove archives a task (its record and its container's output) under
// ARCHIVE/tasks/ID, then removes its container (stopping it if running),
// its workspace volume, its token, its vault tokens and its warden. It
// returns the archive's directory.
func (r *Runner) Remove(ctx context.Context, rec Record) (string, error) {
	// Its vault tokens die first: its warden may be dead already, or die
	// without revoking them.
	if rec.Vault != "" {
		if err := r.RevokeVault(rec.ID); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(r.Paths.ArchiveDir(), "tasks", rec.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	var log strings.Builder
	err := r.Engine.Logs(ctx, rec.Container, false, "", "", func(s string) { log.WriteString(s) }, func(s string) { log.WriteString(s) })
	if err != nil && !errors.Is(err, engine.ErrNoSuchContainer) {
		return "", fmt.Errorf("archiving the task's output: %w", err)
	}
	if err == nil {
		if err := os.WriteFile(filepath.Join(dir, "container.log"), []byte(log.String()), 0o600); err != nil {
			return "", err
		}
	}
	// The warden's log, and the output of the containers a restart
	// --recreate or a followup replaced (ID.output-N.log).
	earlier, _ := filepath.Glob(filepath.Join(r.logDir(), rec.ID+".output-*.log"))
	for _, path := range append([]string{r.wardenLog(rec.ID)}, earlier...) {
		copied, err := archiveFile(path, filepath.Join(dir, strings.TrimPrefix(filepath.Base(path), rec.ID+".")))
		if err != nil {
			return "", err // the original stays, for a retry
		}
		if copied {
			_ = os.Remove(path) // its copy is in the archive
		}
	}
	// Podman's own cleanup of an exited container may still hold its
	// mounts for a moment: retry while they are busy.
	for i := 0; ; i++ {
		err := r.Engine.RemoveContainer(ctx, rec.Container)
		if err == nil {
			break
		}
		if i == 20 || !strings.Contains(err.Error(), "busy") {
			return "", fmt.Errorf("removing the container: %w", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// A warden outliving its container would still accept the token.
	if warden.Alive(rec.WardenPID) {
		warden.Signal(rec.WardenPID, syscall.SIGTERM)
		deadline := time.Now().Add(2 * time.Second)
		for warden.Alive(rec.WardenPID) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := r.Engine.RemoveVolume(ctx, rec.Volume); err != nil {
		return "", fmt.Errorf("removing the workspace: %w", err)
	}
	// The shield's policy and audit log go with the record.
	for src, dst := range map[string]string{r.ShieldPath(rec.ID): "shield.json", r.ShieldAuditLog(rec.ID): "shield-audit.jsonl"} {
		if _, err := archiveFile(src, filepath.Join(dir, dst)); err != nil {
			return "", err // the originals stay, for a retry (removing is idempotent)
		}
	}
	// Copied above; the token is accepted by no warden now, so a file left
	// behind is harmless.
	_ = os.Remove(r.ShieldPath(rec.ID))
	_ = os.Remove(r.secretPath(rec.ID))
	if _, err := r.Store().Archive(rec.ID, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// archiveFile copies src, when it can be read, into the archive as dst, and
// says whether it did. A file that cannot be read (most often: there is
// none) is skipped; a copy that cannot be written is an error, so that the
// caller keeps the original.
func archiveFile(src, dst string) (bool, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return false, nil
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		return false, fmt.Errorf("archiving %s: %w", filepath.Base(src), err)
	}
	return true, nil
}
