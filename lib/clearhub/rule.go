package clearhub

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/config"
)

// EditShield returns project.toml source src (read from path) with dest
// added to its [shield] allow (Allow) or deny (Deny) list and taken off the
// other one, as `terok-shield allow|deny` does for a running task. The
// file is edited in place: only the two lists' values are rewritten (a
// comment inside either list is lost), every other line is kept as it is;
// a missing list is added to the [shield] table, a missing table at the
// end. changed is false when the file already says so. The result is
// decoded again and must differ from src in the two lists alone, or
// nothing is returned: the edit never changes anything else.
func EditShield(path string, src []byte, a clearance.Action, dest string) (out []byte, changed bool, err error) {
	t, err := config.ParseTarget(dest)
	if err != nil {
		return nil, false, err
	}
	add, drop := "allow", "deny"
	switch a {
	case clearance.Allow:
		if err := config.CheckAllow(t); err != nil {
			return nil, false, err
		}
	case clearance.Deny:
		add, drop = drop, add
	default:
		return nil, false, fmt.Errorf("%w: %q", clearance.ErrInvalidAction, a)
	}
	p, err := config.DecodeProject(path, src)
	if err != nil {
		return nil, false, err
	}
	lists := map[string]*[]string{"allow": &p.Shield.Allow, "deny": &p.Shield.Deny}
	same := func(s string) bool {
		x, err := config.ParseTarget(s)
		return err == nil && x == t
	}
	want := p
	wantAdd, wantDrop := slices.Clone(*lists[add]), slices.DeleteFunc(slices.Clone(*lists[drop]), same)
	if !slices.ContainsFunc(wantAdd, same) {
		wantAdd = append(wantAdd, t.String())
	}
	setList(&want, add, wantAdd)
	setList(&want, drop, wantDrop)
	out = src
	for _, k := range []string{add, drop} {
		var w []string
		if k == add {
			w = wantAdd
		} else {
			w = wantDrop
		}
		if slices.Equal(*lists[k], w) {
			continue
		}
		if out, err = setArray(out, "shield", k, w); err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		changed = true
	}
	if !changed {
		return src, false, nil
	}
	got, err := config.DecodeProject(path, out)
	if err != nil || !reflect.DeepEqual(normal(got), normal(want)) {
		return nil, false, fmt.Errorf("%s: the [shield] lists could not be edited in place (nothing written); edit it with terok-project edit", path)
	}
	return out, true, nil
}

// normal makes an empty list nil, as decoding "allow = []" gives an empty
// one.
func normal(p config.Project) config.Project {
	if len(p.Shield.Allow) == 0 {
		p.Shield.Allow = nil
	}
	if len(p.Shield.Deny) == 0 {
		p.Shield.Deny = nil
	}
	return p
}

func setList(p *config.Project, key string, l []string) {
	if key == "allow" {
		p.Shield.Allow = l
	} else {
		p.Shield.Deny = l
	}
}

// errLayout: the table is written in a way the in-place edit does not
// handle (an inline table, dotted keys outside its header).
var errLayout = errors.New("the [shield] table is not written as a [shield] section; edit it with terok-project edit")

// setArray sets table.key to the array vals in TOML source src: the value
// of an existing key is replaced, else the key is added after the table's
// header, else the table is appended.
func setArray(src []byte, table, key string, vals []string) ([]byte, error) {
	s := string(src)
	val := tomlArray(vals)
	loc, err := locate(s, table, key)
	if err != nil {
		return nil, err
	}
	switch {
	case loc.valStart >= 0:
		return []byte(s[:loc.valStart] + val + s[loc.valEnd:]), nil
	case loc.tableElsewhere:
		return nil, errLayout
	case loc.headerEnd >= 0:
		return []byte(s[:loc.headerEnd] + key + " = " + val + "\n" + s[loc.headerEnd:]), nil
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return []byte(s + "\n[" + table + "]\n" + key + " = " + val + "\n"), nil
}

// tomlArray is vals as a one-line TOML array of basic strings.
func tomlArray(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = tomlString(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// location is where a key's value is in TOML source.
type location struct {
	valStart, valEnd int  // the key's value; -1 when the key is not there
	headerEnd        int  // just after the line of the table's [header]; -1 when none
	tableElsewhere   bool // the table is (also) defined by dotted keys or inline
}

// locate reads TOML source that has already decoded and finds table.key:
// table headers set the current table, "key = value" lines define keys,
// values (strings of every kind, arrays and inline tables over several
// lines, comments inside) are skipped whole.
func locate(s, table, key string) (location, error) {
	loc := location{valStart: -1, valEnd: -1, headerEnd: -1}
	var cur []string
	i := 0
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			i++
			continue
		case '#':
			i = lineEnd(s, i)
			continue
		case '[':
			end := scanHeader(s, i)
			inner := strings.Trim(s[i:end], "[] \t")
			isArray := strings.HasPrefix(s[i:], "[[")
			cur = config.SplitKey(inner)
			i = lineEnd(s, end)
			if i < len(s) {
				i++ // past the newline
			}
			if !isArray && slices.Equal(cur, []string{table}) {
				loc.headerEnd = i
			}
			if isArray {
				cur = append([]string{"[["}, cur...) // never matches a plain table
			}
			continue
		}
		eq := keyEnd(s, i)
		if eq < 0 {
			return loc, errors.New("cannot read a line of the file")
		}
		full := append(slices.Clone(cur), config.SplitKey(s[i:eq])...)
		vs := eq + 1
		for vs < len(s) && (s[vs] == ' ' || s[vs] == '\t') {
			vs++
		}
		ve, err := scanValue(s, vs)
		if err != nil {
			return loc, err
		}
		if slices.Equal(full, []string{table, key}) {
			loc.valStart, loc.valEnd = vs, ve
			return loc, nil
		}
		if len(full) > 0 && full[0] == table && len(cur) == 0 {
			loc.tableElsewhere = true // shield.x = ... or shield = {...} at the top
		}
		i = ve
	}
	return loc, nil
}

func lineEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(s)
}

// scanHeader returns the index just after a table header's closing
// bracket(s) starting at s[i] == '['.
func scanHeader(s string, i int) int {
	var q byte
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == ']':
			if j+1 < len(s) && s[j+1] == ']' {
				return j + 2
			}
			return j + 1
		case c == '\n':
			return j
		}
	}
	return len(s)
}

// keyEnd returns the index of the '=' that ends the key starting at s[i],
// minding quoted keys, or -1 when the line has none.
func keyEnd(s string, i int) int {
	var q byte
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '=':
			return i
		case c == '\n':
			return -1
		}
	}
	return -1
}

// scanValue returns the index just after the TOML value starting at s[i]
// (a trailing comment is not part of it).
func scanValue(s string, i int) (int, error) {
	if i >= len(s) {
		return i, errors.New("a key without a value")
	}
	switch {
	case strings.HasPrefix(s[i:], `"""`), strings.HasPrefix(s[i:], `'''`):
		d := s[i : i+3]
		j := i + 3
		for {
			k := strings.Index(s[j:], d)
			if k < 0 {
				return 0, errors.New("an unterminated string")
			}
			j += k
			if d == `"""` && escaped(s, j) {
				j++
				continue
			}
			j += 3
			for n := 0; n < 2 && j < len(s) && s[j] == d[0]; n++ {
				j++ // up to two quotes may end the content
			}
			return j, nil
		}
	case s[i] == '"' || s[i] == '\'':
		for j := i + 1; j < len(s); j++ {
			if s[j] == '\n' {
				break
			}
			if s[j] == s[i] && (s[i] == '\'' || !escaped(s, j)) {
				return j + 1, nil
			}
		}
		return 0, errors.New("an unterminated string")
	case s[i] == '[' || s[i] == '{':
		depth := 0
		for j := i; j < len(s); {
			switch s[j] {
			case '[', '{':
				depth++
				j++
			case ']', '}':
				depth--
				j++
				if depth == 0 {
					return j, nil
				}
			case '#':
				j = lineEnd(s, j)
			case '"', '\'':
				e, err := scanValue(s, j)
				if err != nil {
					return 0, err
				}
				j = e
			default:
				j++
			}
		}
		return 0, errors.New("an unterminated array or inline table")
	}
	// A scalar: to the end of the line or a comment.
	j := lineEnd(s, i)
	if k := strings.IndexByte(s[i:j], '#'); k >= 0 {
		j = i + k
	}
	return i + len(strings.TrimRight(s[i:j], " \t\r")), nil
}

// escaped says whether s[j] is escaped by an odd number of backslashes.
func escaped(s string, j int) bool {
	n := 0
	for k := j - 1; k >= 0 && s[k] == '\\'; k-- {
		n++
	}
	return n%2 == 1
}
