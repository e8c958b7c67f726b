package image

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/config"
)

// The layers.
const (
	L0 = "l0"
	L1 = "l1"
	L2 = "l2"
)

// Repo is the repository every image terok builds is tagged under; L0 and
// L1 are Repo/l0 and Repo/l1, a project's L2 is Repo/l2-PROJECT.
const Repo = "localhost/terok"

// Labels on every image terok builds. Those marked "hashed" say what the
// layer is and are part of its hash; the others record how it was made.
const (
	LabelLayer   = "terok.layer"   // l0, l1 or l2 (hashed); "base" on a base terok made
	LabelFamily  = "terok.family"  // deb or rpm (hashed)
	LabelAgents  = "terok.agents"  // the agents, sorted, comma-separated (hashed; L1 and L2)
	LabelProject = "terok.project" // the project (hashed; L2)
	LabelBase    = "terok.base"    // the base image's reference as configured
	LabelHash    = "terok.hash"    // the layer's hash (its tag is the first 12 digits)
	LabelParent  = "terok.parent"  // the parent image's id
	LabelVersion = "terok.version" // the terok that built it
)

// Agent is the user the agent runs as in every terok image.
const (
	AgentUser = "agent"
	AgentUID  = 1000
	AgentHome = "/home/agent"
	Workspace = "/workspace"
)

// File is one file of a build context.
type File struct {
	Mode int64
	Data []byte
}

// Recipe is everything that goes into one layer: the Containerfile, the
// files it copies in, its parent and what it is. Its Hash covers all of it;
// its Tag is named by the hash.
type Recipe struct {
	Layer         string
	Parent        string            // the parent image's full id
	Labels        map[string]string // the hashed labels
	Containerfile string
	Files         map[string]File // by slash-separated path in the context
	Hash          string          // hex SHA-256
	Tag           string          // repository:first 12 digits of Hash
}

// hashVersion changes when the hash's recipe changes, so that every layer
// is rebuilt rather than misnamed.
const hashVersion = "terok-image-hash/1"

func (r *Recipe) seal(repo string) {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	field(hashVersion)
	field(r.Layer)
	field(r.Parent)
	for _, k := range sortedKeys(r.Labels) {
		field(k + "=" + r.Labels[k])
	}
	field(r.Containerfile)
	for _, k := range sortedKeys(r.Files) {
		field(k)
		field(fmt.Sprintf("%o", r.Files[k].Mode))
		field(string(r.Files[k].Data))
	}
	r.Hash = hex.EncodeToString(h.Sum(nil))
	r.Tag = repo + ":" + r.Hash[:12]
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

//go:embed files/terok-entry files/agent-user
var files embed.FS

// family is how L0 installs packages on one package family.
type family struct {
	Install string // the command that installs packages (names follow)
	// Slim are the options L0's own install adds: no documentation, manual
	// pages or message translations (a task has no man, and runs in
	// C.UTF-8). Later installs (agents', projects') keep theirs.
	Slim     string
	Clean    string // what to remove afterwards
	Packages []string
	// Node is what L1 installs for agents that need Node.js at run time
	// (agent.NeedNode); Npm is what the build stage of an agent that
	// installs with npm has (agent.NeedNpm), which never reaches an image.
	Node     []string
	Npm      []string
	CADir    string // where locally added CA certificates go
	UpdateCA string
	CABundle string // the system bundle, for Node.js
}

var families = map[string]family{
	"deb": {
		Install: "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends",
		// dpkg's own filter; the copyright files stay.
		Slim: "-o 'DPkg::Options::=--path-exclude=/usr/share/doc/*' -o 'DPkg::Options::=--path-include=/usr/share/doc/*/copyright'" +
			" -o 'DPkg::Options::=--path-exclude=/usr/share/man/*' -o 'DPkg::Options::=--path-exclude=/usr/share/info/*'" +
			" -o 'DPkg::Options::=--path-exclude=/usr/share/locale/*'",
		// apt's package caches (*.bin) are rebuilt by the next apt-get update.
		Clean: "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb",
		// passwd: useradd and friends; procps: ps, for people and agents.
		Packages: []string{"bash", "ca-certificates", "curl", "git", "passwd", "procps", "tmux"},
		Node:     []string{"nodejs"},
		Npm:      []string{"nodejs", "npm"},
		CADir:    "/usr/local/share/ca-certificates/terok-host",
		UpdateCA: "update-ca-certificates",
		CABundle: "/etc/ssl/certs/ca-certificates.crt",
	},
	"rpm": {
		Install:  "dnf install -y --setopt=install_weak_deps=False",
		Slim:     "--setopt=tsflags=nodocs",
		Clean:    "dnf clean all && rm -rf /var/cache/dnf",
		Packages: []string{"bash", "ca-certificates", "curl", "findutils", "git", "procps-ng", "shadow-utils", "tmux"},
		Node:     []string{"nodejs"},
		Npm:      []string{"nodejs", "npm"},
		CADir:    "/etc/pki/ca-trust/source/anchors/terok-host",
		UpdateCA: "update-ca-trust",
		CABundle: "/etc/pki/tls/certs/ca-bundle.crt",
	},
}

// L0Packages are the packages L0 installs on a family.
func L0Packages(fam string) []string { return families[fam].Packages }

var l0Template = template.Must(template.New("l0").Funcs(template.FuncMap{"join": strings.Join}).Parse(`# terok L0 ({{.Family}}): the tools every task needs, terok's entry point and
# the user the agent runs as.
FROM {{.Parent}}
{{.Label}}
USER root
{{- if .Certs}}
# The host's locally added CA certificates (config: image.host_certificates).
COPY certs/ {{.F.CADir}}/
{{- end}}
RUN set -eux; \
    {{.F.Install}} {{.F.Slim}} {{join .F.Packages " "}}; \
    {{.F.UpdateCA}}; \
    {{.F.Clean}}
COPY bin/terok-entry /usr/local/bin/terok-entry
COPY lib/agent-user /usr/local/lib/terok/agent-user
RUN /usr/local/lib/terok/agent-user && \
    printf 'TEROK_FAMILY=%s\n' {{.Family}} > /etc/terok/image.env
ENV HOME={{.Home}} LANG=C.UTF-8{{if .Certs}} NODE_EXTRA_CA_CERTS={{.F.CABundle}}{{end}}
USER {{.User}}
WORKDIR {{.Workspace}}
ENTRYPOINT ["/usr/local/bin/terok-entry"]
CMD ["bash", "-l"]
`))

// RenderL0 is the L0 recipe on a base image (parent: its id) of a family,
// with certs (file name → PEM) as the host's CA certificates.
func RenderL0(fam, parent string, certs map[string][]byte) (Recipe, error) {
	f, ok := families[fam]
	if !ok {
		return Recipe{}, fmt.Errorf("unknown package family %q", fam)
	}
	r := Recipe{Layer: L0, Parent: parent, Labels: map[string]string{LabelLayer: L0, LabelFamily: fam}, Files: map[string]File{}}
	for _, n := range []string{"terok-entry", "agent-user"} {
		data, _ := files.ReadFile("files/" + n)
		dir := "bin/"
		if n == "agent-user" {
			dir = "lib/"
		}
		r.Files[dir+n] = File{Mode: 0o755, Data: data}
	}
	for n, pem := range certs {
		r.Files["certs/"+n] = File{Mode: 0o644, Data: pem}
	}
	var b bytes.Buffer
	err := l0Template.Execute(&b, map[string]any{
		"Family": fam, "Parent": parent, "F": f, "Certs": len(certs) > 0,
		"Home": AgentHome, "User": AgentUser, "Workspace": Workspace, "Label": labelLine(r.Labels),
	})
	if err != nil {
		return Recipe{}, err
	}
	r.Containerfile = b.String()
	r.seal(Repo + "/" + L0)
	return r, nil
}

// buildCache is where the L1 install lines' package managers keep their
// downloads; it is removed at the end of each agent's step, so that no
// cache ends up in the image.
const buildCache = "/tmp/terok-build-cache"

// The L1 build's stages for agents that install with npm (agent.NeedNpm):
// npmStage has Node.js and npm; each such agent's lines run in a stage of
// its own on it (stagePrefix+NAME), and L1 copies what they leave under
// /usr/local, so that npm reaches no image.
const (
	npmStage    = "terok-npm"
	stagePrefix = "terok-agent-"
)

// StepMarker is the no-op command that starts the L1 step of an agent
// ("agent", NAME) or of a runtime ("runtime", "node"): usage finds each
// step's size in the image's history by it (with the COPY right before an
// agent's step: what it copied from its stage).
func StepMarker(kind, name string) string { return ": terok " + kind + " " + name }

// RenderL1 is the L1 recipe on an L0 image (parent: its id): the agents, in
// the order given (sorted by Select), each installed in one step as root,
// after Node.js if one of them needs it at run time. An agent that installs
// with npm runs its lines in a build stage of its own that has npm; L1
// copies what they left in /usr/local and runs BINARY --version.
func RenderL1(fam, parent string, agents []*agent.Agent) (Recipe, error) {
	names := make([]string, len(agents))
	for i, a := range agents {
		names[i] = a.Name
	}
	list := strings.Join(names, ",")
	r := Recipe{Layer: L1, Parent: parent, Labels: map[string]string{LabelLayer: L1, LabelFamily: fam, LabelAgents: list}}
	f := families[fam]
	staged := map[string]bool{}
	var npm, node []string
	for _, a := range agents {
		lines, ok := a.Lines(fam)
		if !ok {
			return Recipe{}, &NotInstallableError{Agent: a.Name, Family: fam, Families: a.Families()}
		}
		if len(lines) > 0 && a.Need(agent.NeedNpm) {
			staged[a.Name] = true
			npm = append(npm, a.Name)
		}
		if a.Need(agent.NeedNode) {
			node = append(node, a.Name)
		}
	}
	label := labelLine(r.Labels)
	var b strings.Builder
	fmt.Fprintf(&b, "# terok L1 (%s): the agents %s.\n", fam, orNone(list))
	if len(npm) > 0 {
		fmt.Fprintf(&b, "# Node.js and npm, to install %s with: L1 copies what each install\n"+
			"# leaves in /usr/local out of its stage; npm itself reaches no image.\n", strings.Join(npm, ", "))
		fmt.Fprintf(&b, "FROM %s AS %s\n%s\nUSER root\n", parent, npmStage, label)
		fmt.Fprintf(&b, "RUN set -eux; \\\n    %s %s; \\\n    %s\n", f.Install, strings.Join(f.Npm, " "), f.Clean)
		for _, a := range agents {
			if staged[a.Name] {
				lines, _ := a.Lines(fam)
				fmt.Fprintf(&b, "FROM %s AS %s%s\n# %s: %s\n", npmStage, stagePrefix, a.Name, a.Name, a.Label)
				writeInstall(&b, "", lines)
			}
		}
	}
	fmt.Fprintf(&b, "FROM %s\n%s\nUSER root\n", parent, label)
	if len(node) > 0 {
		fmt.Fprintf(&b, "# Node.js, for %s at run time.\nRUN set -eux; %s; \\\n    %s %s; \\\n    %s\n",
			strings.Join(node, ", "), StepMarker("runtime", agent.NeedNode), f.Install, strings.Join(f.Node, " "), f.Clean)
	}
	for _, a := range agents {
		lines, _ := a.Lines(fam)
		fmt.Fprintf(&b, "# %s: %s\n", a.Name, a.Label)
		switch {
		case len(lines) == 0:
			b.WriteString("# (installs nothing)\n")
		case staged[a.Name]:
			// COPY keeps the packages' symbolic and hard links. (Not RUN
			// --mount=type=bind,from=STAGE: Podman 4.3's build mounts
			// nothing there when the stage comes from its cache.)
			// The check runs in a home of its own, removed after it:
			// Copilot's first run unpacks some 235 MB into ~/.cache.
			fmt.Fprintf(&b, "COPY --from=%s%s /usr/local/ /usr/local/\n"+
				"RUN set -eux; %s; export HOME=\"$(mktemp -d)\"; %s --version; rm -rf \"$HOME\"\n",
				stagePrefix, a.Name, StepMarker("agent", a.Name), a.Binary)
		default:
			writeInstall(&b, StepMarker("agent", a.Name), lines)
		}
	}
	fmt.Fprintf(&b, "RUN printf 'TEROK_AGENTS=%%s\\n' '%s' >> /etc/terok/image.env\nUSER %s\n", list, AgentUser)
	r.Containerfile = b.String()
	r.seal(Repo + "/" + L1)
	return r, nil
}

// writeInstall writes one RUN step of an agent's install lines, started
// by marker (if any).
func writeInstall(b *strings.Builder, marker string, lines []string) {
	// HOME is root's while installing as root: what an install line
	// (or its version check: Codex's writes ~/.codex) leaves in a home
	// must not end up in the agent's, owned by root.
	b.WriteString("RUN set -eux; ")
	if marker != "" {
		b.WriteString(marker + "; ")
	}
	b.WriteString("\\\n")
	fmt.Fprintf(b, "    export HOME=/root NPM_CONFIG_CACHE=%[1]s/npm PIP_CACHE_DIR=%[1]s/pip UV_CACHE_DIR=%[1]s/uv; \\\n", buildCache)
	for _, l := range lines {
		fmt.Fprintf(b, "    %s; \\\n", l)
	}
	fmt.Fprintf(b, "    rm -rf %s\n", buildCache)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// NotInstallableError is an agent whose roster entry has no install lines
// for the base's package family.
type NotInstallableError struct {
	Agent    string
	Family   string
	Families []string
}

func (e *NotInstallableError) Error() string {
	return fmt.Sprintf("agent %s cannot be installed on a %s base (its roster entry installs on: %s)",
		e.Agent, e.Family, orNone(strings.Join(e.Families, ", ")))
}

// Snippet is a project's own Containerfile lines and where they came from.
type Snippet struct {
	File       string // the text of image.containerfile beside project.toml, if any
	FilePath   string
	Inline     string // image.snippet from project.toml
	InlinePath string
}

// ContainerfileName is the file beside project.toml whose lines go into
// the project's L2, before those of image.snippet.
const ContainerfileName = "image.containerfile"

// Check checks both parts; errors name the file and the line.
func (s Snippet) Check() error {
	if line, err := config.CheckSnippet(s.File); err != nil {
		return &config.FileError{Path: s.FilePath, Line: line, Msg: err.Error()}
	}
	if line, err := config.CheckSnippet(s.Inline); err != nil {
		return &config.FileError{Path: s.InlinePath, Key: "image.snippet", Msg: fmt.Sprintf("snippet line %d: %v", line, err)}
	}
	return nil
}

// RenderL2 is a project's L2 recipe on an L1 image (parent: its id).
func RenderL2(project, fam, agents, parent string, s Snippet) (Recipe, error) {
	if err := config.ValidName(project); err != nil {
		return Recipe{}, err
	}
	if err := s.Check(); err != nil {
		return Recipe{}, err
	}
	r := Recipe{Layer: L2, Parent: parent, Labels: map[string]string{
		LabelLayer: L2, LabelFamily: fam, LabelAgents: agents, LabelProject: project}}
	var b strings.Builder
	fmt.Fprintf(&b, "# terok L2: the project %s.\nFROM %s\n%s\nUSER root\nENV TEROK_PROJECT=%s\n", project, parent, labelLine(r.Labels), project)
	for _, part := range []struct{ from, text string }{{ContainerfileName, s.File}, {"image.snippet", s.Inline}} {
		if strings.TrimSpace(part.text) == "" {
			continue
		}
		fmt.Fprintf(&b, "# from %s\n%s\n", part.from, strings.TrimRight(part.text, "\n"))
	}
	fmt.Fprintf(&b, "USER root\nRUN printf 'TEROK_PROJECT=%%s\\n' %s >> /etc/terok/image.env\nUSER %s\nWORKDIR %s\n", project, AgentUser, Workspace)
	r.Containerfile = b.String()
	r.seal(Repo + "/" + L2 + "-" + project)
	return r, nil
}

// labelLine is a LABEL instruction setting labels, sorted, with quoted
// values. The hashed labels come first in every layer, so that each step
// of a build (and what a failed build leaves) carries them.
func labelLine(labels map[string]string) string {
	var b strings.Builder
	b.WriteString("LABEL")
	for _, k := range sortedKeys(labels) {
		fmt.Fprintf(&b, " %s=%s", k, strconv.Quote(labels[k]))
	}
	return b.String()
}

// Final is the Containerfile as it is built: the recipe's, then a LABEL
// step recording how the image was made (its hash among them, so these
// labels cannot be part of what is hashed).
func (r Recipe) Final(made map[string]string) string {
	l := map[string]string{LabelHash: r.Hash, LabelParent: r.Parent}
	for k, v := range made {
		l[k] = v
	}
	return r.Containerfile + labelLine(l) + "\n"
}

// WriteDir writes the recipe's build context, its Containerfile (Final,
// with made) and files, into dir.
func (r Recipe) WriteDir(dir string, made map[string]string) error {
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(r.Final(made)), 0o644); err != nil {
		return err
	}
	for _, name := range sortedKeys(r.Files) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f := r.Files[name]
		if err := os.WriteFile(p, f.Data, os.FileMode(f.Mode)); err != nil {
			return err
		}
		// WriteFile's mode is masked by the umask; the image wants it exact.
		if err := os.Chmod(p, os.FileMode(f.Mode)); err != nil {
			return err
		}
	}
	return nil
}
