package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRun: the command line is the registration's (hook); a state that is
// not a task container's is a usage error (2), said on stderr.
func TestRun(t *testing.T) {
	for _, c := range []struct {
		args []string
		in   string
		code int
		says string
	}{
		{nil, "", 2, "usage: terok-shield-hook hook"},
		{[]string{"hook", "x"}, "", 2, "usage"},
		{[]string{"install"}, "", 2, "usage"},
		{[]string{"hook"}, `{"pid":1}`, 2, "terok-shield-hook: the container has no terok.shield annotation"},
		{[]string{"hook"}, `{"pid":1,"annotations":{"terok.shield":"x"}}`, 2, "is not a task id"},
	} {
		var stderr bytes.Buffer
		if code := run(c.args, strings.NewReader(c.in), &stderr); code != c.code || !strings.Contains(stderr.String(), c.says) {
			t.Errorf("%q %q: %d %q, want %d saying %q", c.args, c.in, code, stderr.String(), c.code, c.says)
		}
	}
}
