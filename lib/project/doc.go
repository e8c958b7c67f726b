// Package project owns the set of projects: creating, listing, reading,
// replacing and removing their configuration directories, each change made
// atomically under the projects directory's lock, and removal keeping an
// archive of what was removed.
package project
