// Package engine owns terok's connection to Podman: finding an API socket
// that answers, starting terok's own `podman system service` when none does
// (so nothing needs systemd), and the facts about the engine at the other
// end (its version, whether it is rootless, which OCI runtime and cgroups it
// uses). Everything else talks to Podman through the context an *Engine
// hands out, with github.com/containers/podman/v5/pkg/bindings; the podman
// command line is run only to start the service, never parsed for data.
//
// The order in which sockets are tried is: the configured podman.socket,
// $CONTAINER_HOST, the system's default socket (rootful
// /run/podman/podman.sock, rootless $XDG_RUNTIME_DIR/podman/podman.sock),
// then terok's own socket under its runtime directory. A socket the user
// named (podman.socket or $CONTAINER_HOST) that does not answer is an
// error: terok neither tries another nor starts its own beside it. Each unix socket is
// pinged with a short timeout first, because the bindings are slow to give
// up on a socket nobody listens on. When none answers, Connect starts a
// service on terok's socket, serialised by a lock on the socket's directory
// so that two terok commands starting at once start one service; the
// service exits by itself after an idle time.
//
// The package also owns the probe container: a trivial container, labelled
// terok.doctor=1, that `terok doctor` and tests run to prove that the
// engine can run anything at all.
package engine
