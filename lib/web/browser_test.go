package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/terok-ai/terok-go/lib/web/webtest"
)

func pageOf(t *testing.T, ctx context.Context, u string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("opening %s: %v", u, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// The page in a real browser (chromium, headless) with an echo session:
// the token becomes a cookie the page cannot read and leaves the address
// bar; the terminal takes keystrokes and follows the window's size; no
// request leaves for anywhere but the server; a second browser profile
// cannot use the spent token; a page of another origin cannot open the
// WebSocket, cookie or not.
func TestBrowserPage(t *testing.T) {
	s, f := serve(t, false)
	base := "http://" + s.Addr()
	b := webtest.Start(t, base)
	tab := b.Tab()
	pageOf(t, tab, s.URL())
	webtest.WaitScreen(t, tab, "fake$", 20*time.Second)
	if got := eval[string](t, tab, "location.href"); got != base+"/" {
		t.Errorf("the address bar keeps %q, want %q", got, base+"/")
	}
	if got := eval[string](t, tab, "document.cookie"); got != "" {
		t.Errorf("the page reads its cookie: %q", got)
	}
	for id, want := range map[string]string{"task": "abc12345", "project": "demo", "agent": "command", "branch": "task/abc12345", "posture": "up"} {
		if got := eval[string](t, tab, fmt.Sprintf("document.getElementById(%q).textContent", id)); got != want {
			t.Errorf("the header's %s says %q, want %q", id, got, want)
		}
	}
	if err := webtest.Type(tab, "echo hi\r"); err != nil {
		t.Fatal(err)
	}
	webtest.WaitScreen(t, tab, "fake$ echo hi", 10*time.Second)
	waitFor(t, func() bool { return f.last().Typed() == "echo hi\r" }, "the keystrokes' arrival, each once")
	webtest.Screenshot(t, tab, "web-echo.png")

	// The window shrinks: the terminal fits it, and the session follows.
	c0, r0, _ := webtest.TermSize(tab)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(640, 360)); err != nil {
		t.Fatal(err)
	}
	var c1, r1 int
	waitFor(t, func() bool {
		c1, r1, _ = webtest.TermSize(tab)
		return (c1 != c0 || r1 != r0) && f.last().Size() == [2]int{c1, r1}
	}, fmt.Sprintf("the session's resize from %dx%d (it has %v, the page %dx%d)", c0, r0, f.last().Size(), c1, r1))

	// Another browser profile with the spent token: refused, no page.
	other := b.Tab()
	pageOf(t, other, s.URL())
	if got := eval[string](t, other, "document.body.innerText"); !strings.Contains(got, "Forbidden") {
		t.Errorf("the spent token in another profile got %q", got)
	}
	n := len(f.terms)

	// A page of another origin (another port of the same host: the same
	// site, so the cookie would go along) cannot open the WebSocket.
	evil := foreignSite(t, fmt.Sprintf(`<script>var w=new WebSocket("ws://%s/ws");`+
		`w.onopen=function(){document.title="open"};w.onclose=function(e){document.title="closed "+e.code};</script>`, s.Addr()))
	b.Allow(evil)
	pageOf(t, tab, evil)
	var title string
	waitFor(t, func() bool { title = eval[string](t, tab, "document.title"); return title != "" }, "the foreign WebSocket's end")
	if title != "closed 1006" {
		t.Errorf("a foreign page's WebSocket: %q, want it refused", title)
	}
	if len(f.terms) != n {
		t.Errorf("a refused WebSocket opened the session")
	}
	if out := b.Outside(); len(out) > 0 {
		t.Errorf("the pages asked for things elsewhere: %v", out)
	}
}

// A view-only page shows the session and types nothing into it.
func TestBrowserViewOnly(t *testing.T) {
	s, f := serve(t, true)
	b := webtest.Start(t, "http://"+s.Addr())
	tab := b.Tab()
	pageOf(t, tab, s.URL())
	webtest.WaitScreen(t, tab, "fake$", 20*time.Second)
	if err := webtest.Type(tab, "touch owned\r"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := f.last().Typed(); got != "" {
		t.Fatalf("a view-only page typed %q", got)
	}
	if s, _ := webtest.Screen(tab); strings.Contains(s, "owned") {
		t.Fatalf("a view-only page echoed the keys:\n%s", s)
	}
}

// A dropped connection is opened again by the page.
func TestBrowserReconnects(t *testing.T) {
	s, f := serve(t, false)
	b := webtest.Start(t, "http://"+s.Addr())
	tab := b.Tab()
	pageOf(t, tab, s.URL())
	webtest.WaitScreen(t, tab, "fake$", 20*time.Second)
	first := f.last()
	_ = first.Close() // the stream ends as a broken connection would not: the page is told it is over
	waitFor(t, func() bool {
		return strings.Contains(eval[string](t, tab, "document.getElementById('state').textContent"), "over")
	}, "the page's word that the session is over")

	// A connection dropped without a close: the page reconnects.
	pageOf(t, tab, "http://"+s.Addr()+"/")
	webtest.WaitScreen(t, tab, "fake$", 20*time.Second)
	n := len(f.terms)
	s.mu.Lock()
	for br := range s.conns {
		_ = br.c.CloseNow()
	}
	s.mu.Unlock()
	waitFor(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.terms) > n }, "the page's reconnection")
}

// foreignSite serves page on another port of 127.0.0.1 and returns its URL.
func foreignSite(t *testing.T, page string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(page))
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// Two servers on one host, opened in one browser: each keeps its own
// cookie (browsers do not keep cookies apart by port).
func TestBrowserTwoServers(t *testing.T) {
	s1, _ := serve(t, false)
	s2, _ := serve(t, false)
	b := webtest.Start(t, "http://"+s1.Addr())
	b.Allow("http://" + s2.Addr())
	tab := b.Tab()
	pageOf(t, tab, s1.URL())
	webtest.WaitScreen(t, tab, "fake$", 20*time.Second)
	pageOf(t, tab, s2.URL())
	webtest.WaitScreen(t, tab, "fake$", 20*time.Second)
	pageOf(t, tab, "http://"+s1.Addr()+"/")
	if got := eval[string](t, tab, "document.body.innerText"); strings.Contains(got, "Forbidden") {
		t.Fatal("the second server's cookie took the first one's place")
	}
	webtest.WaitScreen(t, tab, "fake$", 20*time.Second)
}
