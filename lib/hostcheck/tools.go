package hostcheck

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/terok-ai/terok-go/lib/shield"
)

// GumVersion is the gum terok's prompts are tested with.
const GumVersion = "v0.17.0"

// checkNft: terok's firewall needs nf_tables in the kernel; the nft
// binary is how a person inspects it, and its presence is enough too.
func checkNft() Result {
	r := Result{Check: "nft", Status: OK}
	if p := findBinary("nft"); p != "" {
		r.Detail = "nft at " + p
		return r
	}
	if how := nfTablesKernel(); how != "" {
		r.Detail = "no nft binary; nf_tables is " + how + " in the kernel"
		return r
	}
	r.Status = Fail
	r.Detail = "neither the nft binary nor nf_tables kernel support found"
	r.Fix = "apt-get install -y nftables (or dnf install -y nftables)"
	return r
}

// nfTablesKernel says how the running kernel has nf_tables: "loaded",
// "built in", "available as a module", or "" when it has not.
func nfTablesKernel() string {
	if _, err := os.Stat("/sys/module/nf_tables"); err == nil {
		return "loaded"
	}
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	dir := filepath.Join("/lib/modules", b.String())
	if data, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil && strings.Contains(string(data), "/nf_tables.ko") {
		return "built in"
	}
	if data, err := os.ReadFile(filepath.Join(dir, "modules.dep")); err == nil && strings.Contains(string(data), "/nf_tables.ko") {
		return "available as a module"
	}
	return ""
}

// checkGit: the gate and the workspace need git on the host.
func checkGit(ctx context.Context) Result {
	r := Result{Check: "git", Status: OK}
	out, err := toolVersion(ctx, "git", "--version")
	if err != nil {
		r.Status, r.Detail = Fail, err.Error()
		r.Fix = "apt-get install -y git (or dnf install -y git)"
		return r
	}
	r.Detail = out
	return r
}

// checkGum: prompts use gum when it is there and plain lines otherwise.
func checkGum(ctx context.Context) Result {
	r := Result{Check: "gum", Status: OK}
	out, err := toolVersion(ctx, "gum", "--version")
	if err != nil {
		r.Status, r.Detail = Warn, err.Error()+"; prompts fall back to plain lines"
		r.Fix = "go install github.com/charmbracelet/gum@" + GumVersion
		return r
	}
	r.Detail = out
	return r
}

// toolVersion runs a tool's version command; the error says what is wrong
// in a few words.
func toolVersion(ctx context.Context, name string, args ...string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", &toolError{name + " is not installed"}
	}
	out, err := exec.CommandContext(ctx, p, args...).Output()
	if err != nil {
		return "", &toolError{p + " " + strings.Join(args, " ") + ": " + err.Error()}
	}
	return oneLine(string(out)) + " (" + p + ")", nil
}

type toolError struct{ msg string }

func (e *toolError) Error() string { return e.msg }

// checkShieldHook: the shield's OCI hook is registered where Podman looks,
// and its binary is there.
func checkShieldHook() Result {
	file, bin, err := shield.FindHook()
	if err != nil {
		return Result{Check: "shield", Status: Fail, Detail: err.Error(),
			Fix: "terok setup (as root: for every user and the API service)"}
	}
	return Result{Check: "shield", Status: OK, Detail: fmt.Sprintf("OCI hook %s runs %s", file, bin)}
}
