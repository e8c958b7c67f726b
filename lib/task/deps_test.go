package task

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/warden"
)

// lib/task keeps tasks; what runs inside a task's warden (the resolver,
// the NFLOG reader, the gate's endpoint, the warden's services) is not
// linked into it (issue 11's check, which anyone can run as
// `go list -deps ./lib/task`). And no command imports another.
func TestLayering(t *testing.T) {
	goTool := testenv.Tool(t, "go", "golang")
	deps := goList(t, goTool, "-deps", ".")
	for _, banned := range []string{"/lib/resolver", "/lib/nflog", "/lib/gate/endpoint", "/lib/warden/shieldsvc",
		"/lib/warden/gatesvc", "/lib/warden/vaultsvc", "/lib/warden/services", "/lib/session", "/cmd/"} {
		for _, d := range deps {
			if strings.HasPrefix(d, "github.com/terok-ai/terok-go") && strings.Contains(d+"/", banned+"/") {
				t.Errorf("lib/task depends on %s", d)
			}
		}
	}
	for _, line := range goList(t, goTool, "-f", "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}}", "../../cmd/...") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasSuffix(f[0], "/cmd/terok") { // the command table imports every command
			continue
		}
		for _, imp := range f[1:] {
			if strings.Contains(imp, "terok-go/cmd/") {
				t.Errorf("%s imports the command %s", f[0], imp)
			}
		}
	}
}

func goList(t *testing.T, goTool string, args ...string) []string {
	t.Helper()
	out, err := exec.Command(goTool, append([]string{"list", "-tags", "remote containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// Codex cannot take its base URL from the environment, so its roster entry
// names the vault's proxy in its arguments: the port there is the one the
// warden serves.
func TestCodexRosterNamesTheVaultPort(t *testing.T) {
	r, err := agent.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, ok := r.Get("codex")
	if !ok {
		t.Fatal("no codex in the roster")
	}
	c, err := a.Command(agent.Launch{Headless: true, Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`model_providers.terok.base_url="http://127.0.0.1:%d/v1"`, warden.VaultPort)
	if !slices.Contains(c.Argv, want) {
		t.Errorf("codex's command line %q lacks %s", c.Argv, want)
	}
}
