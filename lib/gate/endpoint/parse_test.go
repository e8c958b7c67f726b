package endpoint

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/gate"
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
	body := pushBody("shallow "+oidA, gate.ZeroID+" "+oidA+" refs/heads/new\x00report-status side-band-64k atomic agent=git/2\n",
		oidA+" "+oidB+" refs/heads/x\n", oidB+" "+gate.ZeroID+" refs/tags/v1", "")
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
		"no flush":       pushBody(gate.ZeroID + " " + oidA + " refs/heads/x"),
		"bad length":     []byte("zzzz"),
		"length 2":       []byte("0002"),
		"bad oid":        pushBody(gate.ZeroID+" "+strings.ToUpper("abcdef"+oidA[6:])+" refs/heads/x", ""),
		"short oid":      pushBody(gate.ZeroID+" 1234 refs/heads/x", ""),
		"bad ref":        pushBody(gate.ZeroID+" "+oidA+" refs/heads/../x", ""),
		"not refs/":      pushBody(gate.ZeroID+" "+oidA+" HEAD", ""),
		"twice":          pushBody(gate.ZeroID+" "+oidA+" refs/heads/x", gate.ZeroID+" "+oidB+" refs/heads/x", ""),
		"zero to zero":   pushBody(gate.ZeroID+" "+gate.ZeroID+" refs/heads/x", ""),
		"two fields":     pushBody(gate.ZeroID+" "+oidA, ""),
		"NUL later":      pushBody(gate.ZeroID+" "+oidA+" refs/heads/x", gate.ZeroID+" "+oidA+" refs/heads/y\x00caps", ""),
		"shallow only":   pushBody("shallow "+oidA, ""),
		"late shallow":   pushBody(gate.ZeroID+" "+oidA+" refs/heads/x", "shallow "+oidA, ""),
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
	f.Add(pushBody(gate.ZeroID+" "+oidA+" refs/heads/x\x00report-status side-band-64k\n", ""))
	f.Add(pushBody("shallow "+oidA, oidA+" "+oidB+" refs/heads/a", oidB+" "+gate.ZeroID+" refs/tags/t", ""))
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
			if !gate.IsObjectID(u.Old) || !gate.IsObjectID(u.New) || gate.ValidRefName(u.Ref) != nil || seen[u.Ref] || (u.IsCreate() && u.IsDelete()) {
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
