package cli

import (
	"bufio"
	"io"
	"strings"

	"github.com/tidwall/gjson"
)

// MaxTargetLine bounds one line of target input (1 MiB): a longer line is an
// error, not an allocation.
const MaxTargetLine = 1 << 20

// DefaultTargetFields are the JSON fields a target is taken from, in order.
var DefaultTargetFields = []string{"id", "name", "project"}

// Targets returns the targets of an acting command. args == ["-"] reads
// them from stdin (see ReadTargets); "-" mixed with other arguments is a
// usage error. It reports whether stdin was consumed, so that the caller
// knows no confirmation can be read from it.
func (e *Env) Targets(args []string, fields ...string) (targets []string, fromStdin bool, err error) {
	for _, a := range args {
		if a == "-" {
			if len(args) != 1 {
				return nil, false, Usagef("\"-\" reads targets from stdin and cannot be mixed with other targets")
			}
			t, err := ReadTargets(e.Stdin, fields...)
			return t, true, err
		}
	}
	return args, false, nil
}

// ReadTargets reads one target per line: a bare token, or a JSON object
// from which the first present field of fields (default id, name, project)
// is taken. Blank lines are skipped. Any malformed line fails the whole read,
// naming the line, so that nothing is acted on from half-understood input.
func ReadTargets(r io.Reader, fields ...string) ([]string, error) {
	if len(fields) == 0 {
		fields = DefaultTargetFields
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxTargetLine)
	var out []string
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		t, err := parseTarget(line, fields)
		if err != nil {
			return nil, Usagef("stdin line %d: %s", n, err.Error())
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, Usagef("stdin line %d: longer than %d bytes", n+1, MaxTargetLine)
		}
		return nil, Failf("reading stdin: %v", err)
	}
	return out, nil
}

type targetError string

func (e targetError) Error() string { return string(e) }

func parseTarget(line string, fields []string) (string, error) {
	if line[0] == '{' || line[0] == '[' || line[0] == '"' {
		if !gjson.Valid(line) {
			return "", targetError("not a valid JSON object")
		}
		v := gjson.Parse(line)
		if !v.IsObject() {
			return "", targetError("a JSON target must be an object")
		}
		for _, f := range fields {
			r := v.Get(gjson.Escape(f))
			if !r.Exists() {
				continue
			}
			if r.Type != gjson.String || r.Str == "" {
				return "", targetError("field " + f + " is not a non-empty string")
			}
			return checkToken(r.Str)
		}
		return "", targetError("JSON object has none of the fields " + strings.Join(fields, ", "))
	}
	return checkToken(line)
}

func checkToken(s string) (string, error) {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return "", targetError("a target cannot contain spaces or control characters")
		}
	}
	return s, nil
}
