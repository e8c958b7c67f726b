// Package image owns terok's images: the three layers every task runs in,
// how each is rendered, named, built and found again, and the base images
// they start from.
//
//   - L0 = a base image + the tools every task needs (git, ca-certificates,
//     curl, tmux, bash, Node.js and npm), terok's in-container entry point
//     and the non-root user the agent runs as (agent, uid 1000, home
//     /home/agent, working directory /workspace);
//   - L1 = L0 + the selected agents' CLIs (from the roster, lib/agent);
//   - L2 = L1 + a project's own Containerfile lines.
//
// Each layer is rendered to a Containerfile and the files it copies in,
// and tagged by a hash of those, of the parent image's id and of what the
// layer is (layer, family, agents, project): an unchanged layer keeps its
// tag and is never rebuilt, and a changed one gets a new tag, as do the
// layers above it (their parent id changed), while the layers below stay.
// Builds go through the Podman REST API; a build that fails tags nothing,
// so no tag ever points at a half-built image, and older images stay.
//
// The package family (deb or rpm) of a base is read from the base image's
// own /etc/os-release, copied out of a container that is created and never
// started, and kept per image id. Each successful build leaves a record
// (the image ids of a project's chain), which is how ls names the projects
// that use an image and how prune knows what to keep. Only images carrying
// terok's labels are ever listed, removed or pruned.
//
// Where no registry can be reached, Bootstrap makes a Debian base with
// mmdebstrap or debootstrap from the mirror apt already uses, keeps its root
// file system as a tarball in the cache (so that it is made once, and other
// users can import it), and imports it.
package image
