// Package terok holds what terok installs beside its binary: the man pages
// (man/) and the bash, zsh and fish completions (completions/), generated
// from the command table and the grammars by `make man completions` and
// checked in. They are embedded here, at the repository's root, because an
// embed directive cannot reach a parent directory: `terok setup` installs
// them from the binary alone (lib/hostsetup), and `make install` from the
// tree.
package terok

import "embed"

// Installed is the man/ and completions/ trees as checked in: man/NAME.1,
// man/terok-config.5, completions/bash/NAME, completions/zsh/_NAME (hence
// all:, which keeps names that start with "_") and
// completions/fish/NAME.fish.
//
//go:embed all:man all:completions
var Installed embed.FS
