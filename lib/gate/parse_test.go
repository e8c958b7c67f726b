package gate

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

const (
	oidA = "1111111111111111111111111111111111111111"
	oidB = "2222222222222222222222222222222222222222"
)

func pushBody(lines ...string) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		if l == "" {
			b.Write(flushPkt)
			continue
		}
		b.Write(pktString(l))
	}
	return b.Bytes()
}

func TestReadPushRequest(t *testing.T) {
	body := pushBody("shallow "+oidA, ZeroID+" "+oidA+" refs/heads/new\x00report-status side-band-64k atomic agent=git/2\n",
		oidA+" "+oidB+" refs/heads/x\n", oidB+" "+ZeroID+" refs/tags/v1", "")
	body = append(body, "PACK..."...)
	br := bufio.NewReader(bytes.NewReader(body))
	req, err := ReadPushRequest(br)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Updates) != 3 || !req.Updates[0].IsCreate() || !req.Updates[2].IsDelete() || req.Updates[1].Ref != "refs/heads/x" ||
		!req.Has("atomic") || !req.Sideband() || !req.ReportStatus() || !req.Has("agent") || req.Has("quiet") || len(req.Shallow) != 1 {
		t.Fatalf("%+v", req)
	}
	rest, _ := br.ReadString(0)
	if rest != "PACK..." {
		t.Fatalf("left at %q", rest)
	}
	// Encoding a subset moves the capabilities to the first line kept.
	enc := req.Encode(req.Updates[1:])
	again, err := ReadPushRequest(bufio.NewReader(bytes.NewReader(enc)))
	if err != nil || len(again.Updates) != 2 || again.Updates[0].Ref != "refs/heads/x" || !again.Has("atomic") || len(again.Shallow) != 1 {
		t.Fatalf("%v %+v", err, again)
	}

	for name, body := range map[string][]byte{
		"truncated":      []byte("00"),
		"no flush":       pushBody(ZeroID + " " + oidA + " refs/heads/x"),
		"bad length":     []byte("zzzz"),
		"length 2":       []byte("0002"),
		"bad oid":        pushBody(ZeroID+" "+strings.ToUpper("abcdef"+oidA[6:])+" refs/heads/x", ""),
		"short oid":      pushBody(ZeroID+" 1234 refs/heads/x", ""),
		"bad ref":        pushBody(ZeroID+" "+oidA+" refs/heads/../x", ""),
		"not refs/":      pushBody(ZeroID+" "+oidA+" HEAD", ""),
		"twice":          pushBody(ZeroID+" "+oidA+" refs/heads/x", ZeroID+" "+oidB+" refs/heads/x", ""),
		"zero to zero":   pushBody(ZeroID+" "+ZeroID+" refs/heads/x", ""),
		"two fields":     pushBody(ZeroID+" "+oidA, ""),
		"NUL later":      pushBody(ZeroID+" "+oidA+" refs/heads/x", ZeroID+" "+oidA+" refs/heads/y\x00caps", ""),
		"shallow only":   pushBody("shallow "+oidA, ""),
		"late shallow":   pushBody(ZeroID+" "+oidA+" refs/heads/x", "shallow "+oidA, ""),
		"push-cert line": pushBody("push-cert\x00report-status", ""),
	} {
		if _, err := ReadPushRequest(bufio.NewReader(bytes.NewReader(body))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if req, err := ReadPushRequest(bufio.NewReader(bytes.NewReader(flushPkt))); err != nil || len(req.Updates) != 0 {
		t.Fatalf("probe: %v", err)
	}
}

func TestReportRoundTrip(t *testing.T) {
	st := &Statuses{Unpack: "ok", Lines: []string{"ok refs/heads/a", "option refname refs/heads/a", "ng refs/heads/b denied"}}
	got, err := parseReport(bufio.NewReader(bytes.NewReader(st.encode())))
	if err != nil || got.Reason("refs/heads/a") != "" || got.Reason("refs/heads/b") != "denied" || got.Reason("refs/heads/c") != "no status" {
		t.Fatalf("%v %+v", err, got)
	}
	got.drop("refs/heads/a")
	if len(got.Lines) != 1 || got.Lines[0] != "ng refs/heads/b denied" {
		t.Fatalf("drop: %q", got.Lines)
	}
	sb := sideband(2, bytes.Repeat([]byte("x"), 2500), 1000)
	if !bytes.HasPrefix(sb, []byte("03e8\x02")) || len(sb) != 2500+3*5 {
		t.Fatalf("sideband %d", len(sb))
	}
}

func TestValidRefName(t *testing.T) {
	for _, ok := range []string{"refs/heads/main", "refs/heads/feature/x-1", "refs/tags/v1.0", "refs/heads/ünïcode", "refs/heads/a@b"} {
		if err := ValidRefName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "HEAD", "refs/heads/", "refs//x", "refs/heads/a..b", "refs/heads/.hidden", "refs/heads/x.lock",
		"refs/heads/x.", "refs/heads/a b", "refs/heads/a~1", "refs/heads/a^", "refs/heads/a:b", "refs/heads/a?", "refs/heads/a*",
		"refs/heads/a[", "refs/heads/a\\b", "refs/heads/a@{1}", "refs/heads/\x01", "refs/heads/\xff", "refs/heads/a\x7f",
		"refs/" + strings.Repeat("a", MaxRefLen)} {
		if ValidRefName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if ValidBranchName("HEAD") == nil || ValidBranchName("-x") == nil || ValidBranchName("ok/branch") != nil {
		t.Fatal("branch names")
	}
	if ValidTaskID("k3x9p2") != nil || ValidTaskID("-x") == nil || ValidTaskID("A") == nil || ValidTaskID("") == nil {
		t.Fatal("task ids")
	}
}

func TestPolicyDecide(t *testing.T) {
	p := Policy{DefaultBranch: "main", Protected: []string{"release/*"}}
	owners := Owners{"refs/heads/mine": {Task: "a"}, "refs/heads/theirs": {Task: "b"}, "refs/tags/t": {Task: "a"}}
	for _, tc := range []struct {
		ref, old, new, cur, want string
	}{
		{"refs/heads/new", ZeroID, oidA, "", ""},
		{"refs/heads/mine", oidA, oidB, oidA, ""},
		{"refs/heads/mine", oidA, ZeroID, oidA, ""},
		{"refs/heads/mine", oidB, oidA, oidA, "stale info"},
		{"refs/heads/main", oidA, oidB, oidA, "protected branch (the project's default branch)"},
		{"refs/heads/main", ZeroID, oidB, "", "protected branch"},
		{"refs/heads/release/2", ZeroID, oidB, "", "gate.protected release/*"},
		{"refs/heads/release/2/x", ZeroID, oidB, "", ""},
		{"refs/heads/theirs", oidA, oidB, oidA, "belongs to task b"},
		{"refs/heads/upstream", oidA, oidB, oidA, "was not created by a task"},
		{"refs/heads/exists", ZeroID, oidB, oidA, "exists in the gate"},
		{"refs/heads/gone", oidA, oidB, "", "no such branch"},
		{"refs/terok/backups/x/heads/a", ZeroID, oidA, "", "terok's own namespace"},
		{"refs/tags/v1", ZeroID, oidA, "", "tags are not allowed"},
		{"refs/notes/commits", ZeroID, oidA, "", "only branches"},
		{"refs/pull/1/head", ZeroID, oidA, "", "only branches"},
		{"refs/heads/HEAD", ZeroID, oidA, "", "invalid branch name"},
		{"refs/heads/-rf", ZeroID, oidA, "", "invalid branch name"},
	} {
		got := p.Decide("a", RefUpdate{Old: tc.old, New: tc.new, Ref: tc.ref}, tc.cur, owners)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s %s..%s (cur %q): got %q, want %q", tc.ref, tc.old[:4], tc.new[:4], tc.cur, got, tc.want)
		}
	}
	p.AllowTags = true
	if got := p.Decide("a", RefUpdate{Old: oidA, New: oidB, Ref: "refs/tags/t"}, oidA, owners); got != "" {
		t.Fatalf("own tag: %q", got)
	}
	if got := p.Decide("b", RefUpdate{Old: oidA, New: oidB, Ref: "refs/tags/t"}, oidA, owners); !strings.Contains(got, "tag belongs to task a") {
		t.Fatalf("their tag: %q", got)
	}
}

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		method, uri string
		want        route
		svc         string
	}{
		{"GET", "/demo.git/info/refs?service=git-upload-pack", routeAdvertise, "upload-pack"},
		{"GET", "/demo/info/refs?service=git-receive-pack", routeAdvertise, "receive-pack"},
		{"POST", "/demo.git/git-upload-pack", routeUploadPack, ""},
		{"POST", "/demo.git/git-receive-pack", routeReceivePack, ""},
		{"GET", "/demo.git/info/refs", routeNone, ""},
		{"GET", "/demo.git/info/refs?service=git-upload-archive", routeNone, ""},
		{"GET", "/demo.git/HEAD", routeNone, ""},
		{"GET", "/demo.git/objects/info/packs", routeNone, ""},
		{"POST", "/demo.git/info/refs?service=git-upload-pack", routeNone, ""},
		{"GET", "/demo.git/git-upload-pack", routeNone, ""},
		{"POST", "/other.git/git-receive-pack", routeNone, ""},
		{"POST", "/demo.git/../other.git/git-receive-pack", routeNone, ""},
		{"POST", "/demo.git/%67it-receive-pack", routeNone, ""},
		{"POST", "//demo.git/git-receive-pack", routeNone, ""},
		{"POST", "/demo.git/git-receive-pack?x=1", routeNone, ""},
		{"POST", "/demo.git/git-receive-pack/", routeNone, ""},
		{"POST", "http://x/demo.git/git-receive-pack", routeNone, ""},
	} {
		got, svc := parseRoute("demo", tc.method, tc.uri)
		if got != tc.want || svc != tc.svc {
			t.Errorf("%s %s: got %v %q", tc.method, tc.uri, got, svc)
		}
	}
	_ = http.MethodGet
}

// FuzzReadPushRequest: any request body yields either an error or updates
// whose ids are 40 lower-case hex digits and whose refs are valid and
// distinct; and re-encoding them reads back the same.
func FuzzReadPushRequest(f *testing.F) {
	f.Add(pushBody(ZeroID+" "+oidA+" refs/heads/x\x00report-status side-band-64k\n", ""))
	f.Add(pushBody("shallow "+oidA, oidA+" "+oidB+" refs/heads/a", oidB+" "+ZeroID+" refs/tags/t", ""))
	f.Add(flushPkt)
	f.Add([]byte("0004"))
	f.Add([]byte("ffff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ReadPushRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, u := range req.Updates {
			if !isOID(u.Old) || !isOID(u.New) || ValidRefName(u.Ref) != nil || seen[u.Ref] || (u.IsCreate() && u.IsDelete()) {
				t.Fatalf("bad update %+v", u)
			}
			seen[u.Ref] = true
		}
		if len(req.Updates) == 0 {
			return
		}
		again, err := ReadPushRequest(bufio.NewReader(bytes.NewReader(req.Encode(req.Updates))))
		if err != nil || len(again.Updates) != len(req.Updates) || strings.Join(again.Caps, " ") != strings.Join(req.Caps, " ") {
			t.Fatalf("round trip: %v %+v %+v", err, req, again)
		}
	})
}

// FuzzValidRefName: what passes is safe to use as a path below refs/ and
// as a word on a git command line.
func FuzzValidRefName(f *testing.F) {
	for _, s := range []string{"refs/heads/main", "refs/heads/../x", "refs/heads/a.lock/b", "refs/terok/x", "refs/heads/-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if ValidRefName(ref) != nil {
			return
		}
		if !strings.HasPrefix(ref, "refs/") || strings.Contains(ref, "..") || strings.Contains(ref, "//") ||
			strings.ContainsAny(ref, " \t\n\x00:\\") || strings.Contains(ref, "/.") {
			t.Fatalf("accepted %q", ref)
		}
	})
}

// FuzzParseRoute: only the four exact forms for the project route.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/demo.git/info/refs?service=git-upload-pack", "/demo.git/git-receive-pack", "/demo/../x", "/demo.git/%2e%2e/"} {
		f.Add("GET", s)
		f.Add("POST", s)
	}
	f.Fuzz(func(t *testing.T, method, uri string) {
		rt, svc := parseRoute("demo", method, uri)
		if rt == routeNone {
			return
		}
		path, _, _ := strings.Cut(uri, "?")
		ok := map[string]bool{"/demo.git/info/refs": true, "/demo/info/refs": true, "/demo.git/git-upload-pack": true,
			"/demo/git-upload-pack": true, "/demo.git/git-receive-pack": true, "/demo/git-receive-pack": true}
		if !ok[path] || (rt == routeAdvertise) != (svc != "") {
			t.Fatalf("%s %q -> %v %q", method, uri, rt, svc)
		}
	})
}
