package testenv

import (
	"os"
	"testing"
)

// PythonSnippet is a line for a project.toml's [image] table that puts
// python3 into the project's own layer (L2). The adversarial tests'
// scripts speak raw sockets through Python; terok's layers carry no
// Python since Node.js (which brought it) left L0.
const PythonSnippet = `snippet = "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 >/dev/null && rm -rf /var/lib/apt/lists/*"` + "\n"

// WithPython appends PythonSnippet to a project.toml that `terok-project
// new` just wrote (its [image] table is the last one).
func WithPython(t testing.TB, projectTOML string) {
	t.Helper()
	f, err := os.OpenFile(projectTOML, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(PythonSnippet); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
