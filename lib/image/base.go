package image

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/images"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
)

// BaseRequest says which base image to make available, and how.
type BaseRequest struct {
	Image     string // the reference wanted
	Bootstrap bool   // make it from the package mirror without trying a pull
	Refresh   bool   // make it again even if it exists (and its root file system anew)
	Suite     string // Debian suite to bootstrap; "": from Image's tag
	Mirror    string // Debian mirror; "": the first one apt's sources name
	Tool      string // "mmdebstrap" or "debootstrap"; "": the first installed
}

// BaseResult says how the base became available.
type BaseResult struct {
	Image   string  `json:"image"`
	ID      string  `json:"id"`
	Source  string  `json:"source"` // present, pulled, imported (from a kept root file system), bootstrapped
	Rootfs  string  `json:"rootfs,omitempty"`
	Mirror  string  `json:"mirror,omitempty"`
	Tool    string  `json:"tool,omitempty"`
	Pull    string  `json:"pull_error,omitempty"` // why a pull failed, when it fell back
	Seconds float64 `json:"seconds"`
}

// Bases makes base images available in one engine.
type Bases struct {
	Engine *engine.Engine
	Paths  config.Paths
	UID    int
	// AptRoot is where apt's configuration is read from ("/" when empty);
	// tests point it elsewhere.
	AptRoot string
	// Log receives the output of the bootstrap tools; nil: discarded.
	Log io.Writer
}

// BaseError is a base that could not be made available.
type BaseError struct {
	Msg, Fix string
	Err      error
}

func (e *BaseError) Error() string { return e.Msg }
func (e *BaseError) Unwrap() error { return e.Err }

// Hint is the fix.
func (e *BaseError) Hint() string { return e.Fix }

// debianRef matches the references a Debian bootstrap can stand for:
// [host/]...debian:SUITE.
var debianRef = regexp.MustCompile(`(^|/)debian:([a-z]+)$`)

// BootstrapName is the local name of a bootstrapped Debian suite.
func BootstrapName(suite string) string { return Repo + "/debian:" + suite }

// Ensure makes req.Image available: it is there already; or it is pulled;
// or (with Bootstrap, or when the pull fails and the image is a Debian one)
// a Debian root file system is made from the package mirror, kept in the
// cache as a tarball, and imported under BootstrapName(suite).
func (b *Bases) Ensure(ctx context.Context, req BaseRequest) (BaseResult, error) {
	start := time.Now()
	ctx = b.Engine.On(ctx)
	res := BaseResult{Image: req.Image}
	if err := config.ValidImageRef(req.Image); err != nil {
		return res, err
	}
	done := func(r BaseResult) (BaseResult, error) {
		r.Seconds = time.Since(start).Round(10 * time.Millisecond).Seconds()
		return r, nil
	}
	suite := req.Suite
	if suite == "" {
		if m := debianRef.FindStringSubmatch(req.Image); m != nil {
			suite = m[2]
		}
	}
	if !req.Refresh {
		img, err := inspectImage(ctx, req.Image)
		if err != nil {
			return res, err
		}
		if img != nil {
			res.ID, res.Source = img.ID, "present"
			return done(res)
		}
	}
	local := strings.HasPrefix(req.Image, "localhost/")
	if !req.Bootstrap && !local {
		id, err := b.pull(ctx, req.Image)
		if err == nil {
			res.ID, res.Source = id, "pulled"
			return done(res)
		}
		res.Pull = err.Error()
		if suite == "" {
			return res, &BaseError{Msg: fmt.Sprintf("cannot pull %s: %v", req.Image, err), Err: err,
				Fix: "without a registry terok can bootstrap Debian only: 'terok-image base --bootstrap' makes " + config.DefaultBase}
		}
	}
	if suite == "" {
		return res, &BaseError{Msg: fmt.Sprintf("%s is not a Debian image, and only Debian can be bootstrapped", req.Image),
			Fix: "name a Debian suite (--suite bookworm), or an image such as " + config.DefaultBase}
	}
	res.Image = BootstrapName(suite)
	tar, err := b.rootfs(ctx, suite, req, &res)
	if err != nil {
		return res, err
	}
	id, err := b.importRootfs(ctx, tar, res.Image, suite)
	if err != nil {
		return res, err
	}
	res.ID, res.Rootfs = id, tar
	if res.Source == "" {
		res.Source = "imported"
	}
	return done(res)
}

func (b *Bases) pull(ctx context.Context, ref string) (string, error) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	ids, err := images.Pull(pctx, ref, new(images.PullOptions).WithQuiet(true).WithProgressWriter(io.Discard))
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", errors.New("the pull named no image")
	}
	return ids[0], nil
}

// RootfsName is the tarball of a bootstrapped Debian suite in a rootfs
// directory.
func RootfsName(suite string) string { return "debian-" + suite + ".tar" }

// rootfs returns the tarball of a suite's root file system: the user's
// kept one, else the system's (root makes it once for everyone), else a
// new one made now.
func (b *Bases) rootfs(ctx context.Context, suite string, req BaseRequest, res *BaseResult) (string, error) {
	own := filepath.Join(b.Paths.RootfsDir(), RootfsName(suite))
	if !req.Refresh {
		for _, p := range []string{own, filepath.Join(config.SystemCacheDir, "rootfs", RootfsName(suite))} {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
				if f, err := os.Open(p); err == nil {
					_ = f.Close() // opened only to see that it can be read
					return p, nil
				}
			}
		}
	}
	mirror := req.Mirror
	if mirror == "" {
		m, err := AptMirror(b.aptRoot(), suite)
		if err != nil {
			return "", &BaseError{Msg: "no Debian mirror to bootstrap from: " + err.Error(), Err: err,
				Fix: "name one with --mirror URL"}
		}
		mirror = m
	}
	tool, err := b.tool(req.Tool)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(own), 0o755); err != nil {
		return "", err
	}
	tmp := own + ".tmp"
	_ = os.Remove(tmp) // a killed run's leftover, if any; the tool writes it anew
	defer os.Remove(tmp)
	if err := b.runTool(ctx, tool, suite, mirror, tmp); err != nil {
		return "", err
	}
	// Readable by everyone: other users import the same base from it.
	if err := os.Chmod(tmp, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, own); err != nil {
		return "", err
	}
	res.Source, res.Mirror, res.Tool = "bootstrapped", mirror, filepath.Base(tool)
	return own, nil
}

func (b *Bases) aptRoot() string {
	if b.AptRoot == "" {
		return "/"
	}
	return b.AptRoot
}

// tool finds the bootstrap tool: mmdebstrap (which works unprivileged, in
// a user namespace) or, as root, debootstrap.
func (b *Bases) tool(want string) (string, error) {
	cands := []string{"mmdebstrap", "debootstrap"}
	if want != "" {
		if want != "mmdebstrap" && want != "debootstrap" {
			return "", &BaseError{Msg: fmt.Sprintf("unknown bootstrap tool %q", want), Fix: "use mmdebstrap or debootstrap"}
		}
		cands = []string{want}
	}
	for _, c := range cands {
		if c == "debootstrap" && b.UID != 0 {
			continue
		}
		if p, err := lookPath(c); err == nil {
			return p, nil
		}
	}
	if b.UID != 0 {
		return "", &BaseError{Msg: "mmdebstrap is not installed, and debootstrap needs root",
			Fix: "install mmdebstrap (apt-get install mmdebstrap), or run 'terok-image base --bootstrap' once as root: its root file system then serves every user"}
	}
	return "", &BaseError{Msg: "neither mmdebstrap nor debootstrap is installed", Fix: "apt-get install -y mmdebstrap (or debootstrap)"}
}

// lookPath finds a program in $PATH and the sbin directories (debootstrap
// lives in /usr/sbin, which a user's $PATH may lack).
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// runTool makes the root file system of suite from mirror as a tarball.
func (b *Bases) runTool(ctx context.Context, tool, suite, mirror, out string) error {
	log := b.Log
	if log == nil {
		log = io.Discard
	}
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
		if err := cmd.Run(); err != nil {
			return &BaseError{Msg: fmt.Sprintf("%s failed: %v", filepath.Base(name), err), Err: err,
				Fix: "run again with -v to see its output"}
		}
		return nil
	}
	if filepath.Base(tool) == "mmdebstrap" {
		// mmdebstrap writes the tarball itself and removes apt's caches.
		mode := "root"
		if b.UID != 0 {
			mode = "unshare"
		}
		return run(tool, "--variant=minbase", "--mode="+mode, "--format=tar", suite, out, mirror)
	}
	dir, err := os.MkdirTemp("/var/tmp", "terok-debootstrap-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := run(tool, "--variant=minbase", suite, dir, mirror); err != nil {
		return err
	}
	for _, g := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"} {
		ms, _ := filepath.Glob(filepath.Join(dir, g))
		for _, m := range ms {
			_ = os.RemoveAll(m) // trimming the size only; what is left is still a valid root
		}
	}
	return run("tar", "-C", dir, "--numeric-owner", "-cf", out, ".")
}

func (b *Bases) importRootfs(ctx context.Context, tar, name, suite string) (string, error) {
	f, err := os.Open(tar)
	if err != nil {
		return "", err
	}
	defer f.Close()
	changes := []string{
		`CMD ["/bin/bash"]`,
		"LABEL " + LabelLayer + "=base",
		"LABEL " + LabelFamily + "=deb",
		"LABEL " + LabelBase + "=" + name,
		"LABEL " + LabelVersion + "=debian-" + suite,
	}
	rep, err := images.Import(ctx, f, new(images.ImportOptions).WithReference(name).WithChanges(changes))
	if err != nil {
		return "", fmt.Errorf("importing %s as %s: %w", tar, name, err)
	}
	img, err := inspectImage(ctx, name)
	if err != nil {
		return "", err
	}
	if img == nil {
		return rep.Id, nil
	}
	return img.ID, nil
}

// debianSuites are the suite names that mark an apt source as a Debian
// archive (rather than a vendor's repository).
var debianSuites = map[string]bool{
	"buster": true, "bullseye": true, "bookworm": true, "trixie": true, "forky": true, "duke": true,
	"sid": true, "oldstable": true, "stable": true, "testing": true, "unstable": true,
}

// aptSource is one URI of apt's sources, with the suites it serves.
type aptSource struct {
	URI    string
	Suites []string
}

// AptMirror returns the Debian package mirror apt's sources under root
// name for suite: the first that serves it, else the first that serves any
// Debian suite (one mirror serves them all). Security archives, disabled
// entries and deb-src are skipped. It reads deb822 .sources files, then
// sources.list and one-line .list files.
func AptMirror(root, suite string) (string, error) {
	etc := filepath.Join(root, "etc", "apt")
	d822, _ := filepath.Glob(filepath.Join(etc, "sources.list.d", "*.sources"))
	lists, _ := filepath.Glob(filepath.Join(etc, "sources.list.d", "*.list"))
	files := append(append(d822, filepath.Join(etc, "sources.list")), lists...)
	var srcs []aptSource
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if strings.HasSuffix(f, ".sources") {
			srcs = append(srcs, deb822Sources(string(data))...)
		} else {
			srcs = append(srcs, oneLineSources(string(data))...)
		}
	}
	for _, exact := range []bool{true, false} {
		for _, s := range srcs {
			for _, su := range s.Suites {
				if (exact && su == suite) || (!exact && debianSuites[strings.SplitN(su, "-", 2)[0]]) {
					return s.URI, nil
				}
			}
		}
	}
	return "", fmt.Errorf("apt's sources under %s name no Debian mirror", etc)
}

func mirrorURI(uri string, suites []string) bool {
	if !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") && !strings.HasPrefix(uri, "file:/") {
		return false
	}
	if strings.Contains(uri, "security") {
		return false
	}
	for _, s := range suites {
		if strings.HasSuffix(s, "-security") {
			return false
		}
	}
	return true
}

// deb822Sources reads the URIs of the enabled "Types: deb" stanzas.
func deb822Sources(s string) []aptSource {
	var out []aptSource
	for _, stanza := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		fields := map[string]string{}
		key := ""
		sc := bufio.NewScanner(strings.NewReader(stanza))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && key != "" {
				fields[key] += " " + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			key = strings.ToLower(strings.TrimSpace(k))
			fields[key] = strings.TrimSpace(v)
		}
		if !hasWord(fields["types"], "deb") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		suites := strings.Fields(fields["suites"])
		for _, u := range strings.Fields(fields["uris"]) {
			if mirrorURI(u, suites) {
				out = append(out, aptSource{URI: u, Suites: suites})
			}
		}
	}
	return out
}

// oneLineSources reads "deb [options] URI suite components" lines.
func oneLineSources(s string) []aptSource {
	var out []aptSource
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(strings.SplitN(line, "#", 2)[0])
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			f = f[1:]
		}
		if len(f) >= 2 && mirrorURI(f[0], f[1:2]) {
			out = append(out, aptSource{URI: f[0], Suites: f[1:2]})
		}
	}
	return out
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}
