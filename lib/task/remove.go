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
// its workspace volume, its token and its warden. It returns the archive's
// directory.
func (r *Runner) Remove(ctx context.Context, rec Record) (string, error) {
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
		if b, err := os.ReadFile(path); err == nil {
			os.WriteFile(filepath.Join(dir, strings.TrimPrefix(filepath.Base(path), rec.ID+".")), b, 0o600)
			os.Remove(path)
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
		if b, err := os.ReadFile(src); err == nil {
			os.WriteFile(filepath.Join(dir, dst), b, 0o600)
		}
	}
	os.Remove(r.ShieldPath(rec.ID))
	os.Remove(r.secretPath(rec.ID))
	if _, err := r.Store().Archive(rec.ID, dir); err != nil {
		return "", err
	}
	return dir, nil
}
