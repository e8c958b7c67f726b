// Package store owns terok's small on-disk records: files written atomically
// (temporary file, fsync, rename, fsync of the directory) under an advisory
// lock on their directory, so that two terok commands running at once never
// lose or tear a record. A record that cannot be read back is reported by
// its path as *CorruptError, never as a panic.
package store
