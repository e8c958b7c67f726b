package engine

import (
	"context"
	"fmt"

	"github.com/containers/podman/v5/pkg/bindings/system"
)

// Host is what the engine says about the host it runs containers on.
type Host struct {
	Rootless      bool   `json:"rootless"`
	OCIRuntime    string `json:"oci_runtime"`
	CgroupVersion string `json:"cgroup_version"` // "v1" or "v2"
	CgroupManager string `json:"cgroup_manager"`
	LogDriver     string `json:"log_driver"`
}

func readHost(ctx context.Context) (Host, error) {
	info, err := system.Info(ctx, nil)
	if err != nil {
		return Host{}, fmt.Errorf("podman info: %w", err)
	}
	h := Host{
		Rootless:      info.Host.Security.Rootless,
		CgroupVersion: info.Host.CgroupsVersion,
		CgroupManager: info.Host.CgroupManager,
		LogDriver:     info.Host.LogDriver,
	}
	if info.Host.OCIRuntime != nil {
		h.OCIRuntime = info.Host.OCIRuntime.Name
	}
	return h, nil
}
