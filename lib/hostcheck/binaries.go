package hostcheck

import (
	"fmt"
	"os"
	"slices"
	"strings"

	podmanconfig "go.podman.io/common/pkg/config"
)

// DefaultInitPath is where Podman looks for the container init (tasks run
// with one) unless containers.conf names another: catatonit, which Podman
// only recommends, so an install without recommends lacks it.
const DefaultInitPath = "/usr/libexec/podman/catatonit"

// SeccompProfilePath is the engine's default seccomp profile, from which
// terok makes its own (lib/task).
const SeccompProfilePath = "/usr/share/containers/seccomp.json"

// hostPart is one program or file a task's path uses on the host.
type hostPart struct {
	what string // "init", "conmon", ...
	path string // where it was found; "" when missing
	fix  string // how to install it
	note string // which one, when there is a choice
}

// HostParts lists every program and file the engine runs or reads for a
// task on this host, as Podman's own configuration names them: the OCI
// runtime, conmon, the container init, the seccomp profile, the network
// (rootful: netavark or CNI's bridge, and iptables unless the firewall
// driver is nftables; rootless: slirp4netns or pasta, newuidmap and
// newgidmap). It needs no running engine, so it also runs in a chroot.
func hostParts(rootful bool) []hostPart {
	conf, err := podmanconfig.Default()
	if err != nil {
		conf = &podmanconfig.Config{}
	}
	var parts []hostPart
	add := func(what, path, fix, note string) {
		parts = append(parts, hostPart{what: what, path: path, fix: fix, note: note})
	}
	add("podman", findBinary("podman"), "apt-get install -y podman (dnf install -y podman)", "")

	conmon, _ := conf.FindConmon()
	add("conmon", conmon, "apt-get install -y conmon", "")

	rt := conf.Engine.OCIRuntime
	if rt == "" {
		rt = defaultRuntime()
	}
	add("runtime", firstFile(append(conf.Engine.OCIRuntimes[rt], findBinary(rt))...),
		fmt.Sprintf("apt-get install -y %s (or name an installed runtime: [engine] runtime in containers.conf)", rt), rt)

	// The fields, not FindInitBinary: that searches on where Podman 4.3
	// does not, and this check must fail where a task would.
	init := DefaultInitPath
	switch {
	case conf.Containers.InitPath != "": //nolint:staticcheck // SA1019: see above
		init = conf.Containers.InitPath //nolint:staticcheck // SA1019: see above
	case conf.Engine.InitPath != "": //nolint:staticcheck // SA1019: see above
		init = conf.Engine.InitPath //nolint:staticcheck // SA1019: see above
	}
	add("init", firstFile(init),
		fmt.Sprintf("apt-get install -y catatonit (dnf install -y catatonit): tasks run with an init, which Podman looks for at %s", init), "")

	add("seccomp", firstFile(SeccompProfilePath),
		"apt-get install --reinstall -y golang-github-containers-common (dnf install -y containers-common)", "")

	if rootful {
		netavark, _ := conf.FindHelperBinary("netavark", false)
		var bridge string
		for _, d := range append(conf.Network.CNIPluginDirs.Get(), "/usr/lib/cni", "/opt/cni/bin") {
			if bridge = firstFile(d + "/bridge"); bridge != "" {
				break
			}
		}
		switch {
		case netavark != "":
			add("network", netavark, "", "netavark")
		case bridge != "":
			add("network", bridge, "", "CNI, which Podman 5 drops: apt-get install -y netavark aardvark-dns")
		default:
			add("network", "", "apt-get install -y netavark aardvark-dns", "")
		}
		if conf.Network.FirewallDriver != "nftables" {
			add("iptables", findBinary("iptables"), "apt-get install -y iptables (the bridge network's NAT rules)", "")
		}
	}

	// Rootless tasks (any user's) need these.
	rootlessNet := conf.Network.DefaultRootlessNetworkCmd
	slirp, _ := conf.FindHelperBinary("slirp4netns", true)
	pasta, _ := conf.FindHelperBinary("pasta", true)
	switch {
	case slirp != "" && (rootlessNet != "pasta" || pasta == ""):
		add("rootless-network", slirp, "", "slirp4netns")
	case pasta != "":
		add("rootless-network", pasta, "", "pasta")
	default:
		add("rootless-network", "", "apt-get install -y slirp4netns (Podman 4) or passt (Podman 5)", "")
	}
	add("newuidmap", findBinary("newuidmap"), "apt-get install -y uidmap (dnf install -y shadow-utils)", "")
	add("newgidmap", findBinary("newgidmap"), "apt-get install -y uidmap (dnf install -y shadow-utils)", "")
	return parts
}

// firstFile is the first of paths that names an existing file, or "".
func firstFile(paths ...string) string {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// checkBinaries checks that every host part a task uses is there.
func checkBinaries(uid int) Result {
	parts := hostParts(uid == 0)
	var found, missing, fixes []string
	for _, p := range parts {
		if p.path == "" {
			missing = append(missing, p.what)
			if p.fix != "" && !slices.Contains(fixes, p.fix) {
				fixes = append(fixes, p.fix)
			}
			continue
		}
		s := p.what + " " + p.path
		if p.note != "" && p.note != p.what && !strings.HasSuffix(p.path, "/"+p.note) {
			s += " (" + p.note + ")"
		}
		found = append(found, s)
	}
	if len(missing) > 0 {
		return Result{Check: "binaries", Status: Fail,
			Detail: "missing on the host: " + strings.Join(missing, ", ") + "; found: " + strings.Join(found, ", "),
			Fix:    strings.Join(fixes, "; and ")}
	}
	return Result{Check: "binaries", Status: OK, Detail: strings.Join(found, ", ")}
}
