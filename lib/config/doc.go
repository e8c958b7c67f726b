// Package config owns terok's configuration: where its files and state live
// (Paths), the TOML formats of the global config.toml and of each
// project.toml, and the one table of keys (Schema) from which validation,
// `terok-project config schema` and the man page terok-config(5) all come.
//
// Unknown keys, wrong types and invalid values are errors that name the
// file, the line and the key.
package config
