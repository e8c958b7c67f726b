package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestReadTargets(t *testing.T) {
	in := "alpha\n\n  {\"name\":\"beta\",\"id\":\"b1\"}\n{\"project\":\"gamma\"}\n{\"name\":\"d\\\"x\"}\n"
	got, err := ReadTargets(strings.NewReader(in), "name", "project")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alpha", "beta", "gamma", `d"x`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q want %q", got, want)
	}
	// The default fields prefer id.
	got, _ = ReadTargets(strings.NewReader(`{"name":"beta","id":"b1"}`))
	if got[0] != "b1" {
		t.Fatalf("got %q", got)
	}
}

func TestReadTargetsErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"ok\n{\"name\":\"tr", "stdin line 2: not a valid JSON object"},
		{"{\"other\":1}", "stdin line 1: JSON object has none of the fields id, name, project"},
		{"{\"name\":3}", "stdin line 1: field name is not a non-empty string"},
		{"{\"name\":\"\"}", "stdin line 1: field name is not a non-empty string"},
		{"[\"a\"]", "stdin line 1: a JSON target must be an object"},
		{"two words", "stdin line 1: a target cannot contain spaces"},
		{"{\"name\":\"a b\"}", "stdin line 1: a target cannot contain spaces"},
		{strings.Repeat("x", MaxTargetLine+10), "longer than"},
	} {
		_, err := ReadTargets(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.msg) || CodeOf(err) != ExitUsage {
			t.Errorf("%.30q: got %v (code %d), want %q", tc.in, err, CodeOf(err), tc.msg)
		}
	}
}

func TestTargetsDash(t *testing.T) {
	e := &Env{Stdin: strings.NewReader("a\nb\n")}
	got, fromStdin, err := e.Targets([]string{"-"})
	if err != nil || !fromStdin || len(got) != 2 {
		t.Fatalf("%v %v %v", got, fromStdin, err)
	}
	if _, _, err := e.Targets([]string{"x", "-"}); CodeOf(err) != ExitUsage {
		t.Fatalf("mixed: %v", err)
	}
	got, fromStdin, _ = e.Targets([]string{"x"})
	if fromStdin || got[0] != "x" {
		t.Fatal("plain args")
	}
}

func TestReportAndCodes(t *testing.T) {
	var errb bytes.Buffer
	e := &Env{Prog: "terok-x", Stderr: &errb, JSON: true}
	code := Report(e, NotFoundf("no task %q", "t1").WithHint("try ls"))
	if code != ExitNotFound {
		t.Fatalf("code %d", code)
	}
	want := "terok-x: no task \"t1\"\nhint: try ls\n{\"code\":4,\"error\":\"no task \\\"t1\\\"\",\"hint\":\"try ls\",\"type\":\"error\"}\n"
	if errb.String() != want {
		t.Fatalf("got %q", errb.String())
	}
	if CodeOf(errors.New("x")) != ExitFailure || CodeOf(nil) != 0 || CodeOf(ExitStatus(2)) != 2 {
		t.Fatal("codes")
	}
	errb.Reset()
	if Report(e, ExitStatus(1)) != 1 || errb.Len() != 0 {
		t.Fatal("ExitStatus prints nothing")
	}
}

func TestListTableSanitizes(t *testing.T) {
	var out bytes.Buffer
	e := &Env{Stdout: &out, StdoutTTY: true}
	type row struct{ A, B string }
	err := List(e, []row{{"x\x1b[31m", "multi\nline"}, {"", "b"}}, []Column[row]{
		{Header: "A", Value: func(r row) string { return r.A }},
		{Header: "B", Value: func(r row) string { return r.B }},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "A       B\nx?[31m  multi line\n-       b\n"
	if out.String() != want {
		t.Fatalf("got %q", out.String())
	}
}

func TestConfirmWithoutTerminal(t *testing.T) {
	e := &Env{Getenv: func(string) string { return "" }}
	if err := e.Confirm("Remove x?", true); err != nil {
		t.Fatal(err)
	}
	err := e.Confirm("Remove x?", false)
	if CodeOf(err) != ExitUsage || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("got %v", err)
	}
	if _, err := e.Ask("Name", "", "--name"); CodeOf(err) != ExitUsage || !strings.Contains(err.Error(), "--name") {
		t.Fatalf("got %v", err)
	}
}

// FuzzReadTargets: any input yields targets free of whitespace, or a usage
// error naming a line; never a panic.
func FuzzReadTargets(f *testing.F) {
	for _, s := range []string{"a\nb\n", `{"id":"x"}`, `{"name":"a"`, "[1]", `"str"`, "{}\n\n{\"project\":\"p\"}", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadTargets(bytes.NewReader(data))
		if err != nil {
			if CodeOf(err) != ExitUsage || !strings.HasPrefix(err.Error(), "stdin line ") {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		for _, g := range got {
			if g == "" || strings.ContainsAny(g, " \t\n\r") {
				t.Fatalf("bad target %q", g)
			}
		}
	})
}

func TestUndocumentedFields(t *testing.T) {
	type rec struct {
		Name  string `json:"name"`
		Size  int    `json:"size_bytes"`
		Extra string `json:"-"`
	}
	secs := []Section{{Title: "JSON FIELDS", Body: "  name  the name\n"}}
	if m := UndocumentedFields(secs, rec{}); len(m) != 1 || m[0] != "rec.size_bytes" {
		t.Fatalf("got %v", m)
	}
}
