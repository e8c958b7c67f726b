// Package hostcheck owns `terok doctor`'s diagnosis of the host: whether
// Podman answers and can run a container, whether the OCI runtime, cgroups
// and resource limits will let it (the failures known from real machines
// are recognised in the engine's own error text and predicted from the
// host: crun on hybrid cgroups, rlimits root cannot raise), whether user
// namespaces have subordinate ids, whether nftables, git, gum and a D-Bus
// session bus are there, the vault's state (never asking for its
// passphrase), and whether the host's CDI specs provide the GPUs projects
// ask for.
//
// Each check gives one Result: ok, warn or fail, a detail and, when
// something is wrong, the fix as a command or a config line. Every check is
// bounded by a timeout, so a wedged service or bus makes a check fail, never
// the doctor hang.
package hostcheck
