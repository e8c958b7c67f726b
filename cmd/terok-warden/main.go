// Command terok-warden is a task's warden: the process that serves the
// task's shield, gate, clearance and vault proxy (lib/warden/services.Main).
// It is a binary of its own, installed beside terok, so that it links only
// what a warden runs: every running task has one (docs/decisions.md "A lean
// warden"). lib/task starts it; nobody runs it by hand.
package main

import (
	"os"

	"github.com/terok-ai/terok-go/lib/warden/services"
)

func main() { os.Exit(services.Command()) }
