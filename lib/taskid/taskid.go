// Package taskid is the form of a task's id: what lib/task makes and what
// every command and the warden (which links no more than it needs, see
// lib/warden/services) accept.
package taskid

import (
	"fmt"
	"strings"
)

// Alphabet has no look-alike characters (no 0/o, 1/l/i), so an id read
// aloud or off a screen is typed back right.
const Alphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// Len is the length of a task id: 31^8 ≈ 8.5e11 ids.
const Len = 8

// Valid checks a whole task id.
func Valid(id string) error {
	if len(id) != Len {
		return fmt.Errorf("task id %q is not %d characters", id, Len)
	}
	return ValidPrefix(id)
}

// ValidPrefix checks a task id or a prefix of one.
func ValidPrefix(p string) error {
	if p == "" || len(p) > Len {
		return fmt.Errorf("task id %q is empty or too long", p)
	}
	for _, c := range p {
		if !strings.ContainsRune(Alphabet, c) {
			return fmt.Errorf("task id %q has a character that no task id has", p)
		}
	}
	return nil
}
