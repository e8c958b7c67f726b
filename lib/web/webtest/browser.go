// Package webtest drives a real browser for the tests of terok's web mode:
// Debian's chromium, headless, through chromedp. Every request the browser
// makes to anywhere but the terok server is refused and recorded
// (Browser.Outside), and chromium reaches nothing by name (its resolver
// maps every name to nothing) nor beyond this machine (a proxy that does
// not answer), so a page that loads and runs proves that no asset comes
// from elsewhere.
package webtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// Browser is one chromium process; each Tab of it is a browser context of
// its own (its own cookies: another profile, as far as the server sees).
type Browser struct {
	t     testing.TB
	alloc context.Context
	base  string // the terok server's origin: http://host:port

	mu      sync.Mutex
	outside []string
	also    []string // other origins a test serves on purpose
}

// Allow lets the pages reach another origin of the test's own (one that
// plays a foreign site).
func (b *Browser) Allow(origin string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.also = append(b.also, strings.TrimSuffix(origin, "/"))
}

// Start starts chromium for a server at origin base (http://host:port).
// Missing chromium skips the test, and fails it in CI.
func Start(t testing.TB, base string) *Browser {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 700),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		// No name resolves (but 127.0.0.1, the server), and whatever is not loopback goes to a proxy
		// that does not answer.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.ProxyServer("http://127.0.0.1:9"),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	// The browser starts with its first, default, context; tabs get
	// contexts of their own.
	root, rcancel := chromedp.NewContext(alloc)
	t.Cleanup(rcancel)
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &Browser{t: t, alloc: root, base: strings.TrimSuffix(base, "/")}
}

func chromium(t testing.TB) string {
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := lookPath(n); err == nil {
			return p
		}
	}
	return testenv.Tool(t, "chromium", "chromium: scripts/setup-host --test-tools")
}

func lookPath(n string) (string, error) {
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(d, n)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

// Tab opens a new browser context (cookies of its own) and its first tab,
// with every request to another origin than the server's refused and
// recorded. It is closed at the test's end.
func (b *Browser) Tab() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.alloc, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	sockets := chromedp.Events(ctx, network.WebSocketCreated)
	go func() {
		for e, err := range paused {
			if err != nil {
				return
			}
			if b.ours(e.Request.URL) {
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
				continue
			}
			b.record(e.Request.URL)
			_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: e.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		}
	}()
	go func() {
		for e, err := range sockets {
			if err != nil {
				return
			}
			if !b.ours(strings.Replace(e.URL, "ws://", "http://", 1)) {
				b.record(e.URL)
			}
		}
	}()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		b.t.Fatalf("starting chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}}); err != nil {
		b.t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func (b *Browser) ours(u string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range append([]string{b.base}, b.also...) {
		if u == o || strings.HasPrefix(u, o+"/") {
			return true
		}
	}
	return false
}

func (b *Browser) record(u string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.outside = append(b.outside, u)
}

// Outside lists the requests the pages made to anywhere but the server.
func (b *Browser) Outside() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.outside...)
}

// Screen is the text of the page's terminal (window.terokTerm), its lines
// joined by newlines, trailing blanks trimmed.
func Screen(ctx context.Context) (string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){var t=window.terokTerm;if(!t)return "";var b=t.buffer.active,o=[];`+
		`for(var i=0;i<b.length;i++){var l=b.getLine(i);o.push(l?l.translateToString(true):"")}return o.join("\n")})()`))
}

// WaitScreen waits until the page's terminal shows text.
func WaitScreen(t testing.TB, ctx context.Context, text string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var s string
	for time.Now().Before(deadline) {
		var err error
		if s, err = Screen(ctx); err != nil {
			t.Fatalf("reading the page's terminal: %v", err)
		}
		if strings.Contains(s, text) {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%q never appeared in the page's terminal:\n%s", text, s)
	return ""
}

// TermSize is the page's terminal's size.
func TermSize(ctx context.Context) (cols, rows int, err error) {
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[window.terokTerm.cols, window.terokTerm.rows]`))
	if err == nil && len(v) != 2 {
		err = fmt.Errorf("no terminal size: %v", v)
	}
	if err != nil {
		return 0, 0, err
	}
	return v[0], v[1], nil
}

// Type types text into the page's terminal as key presses: for each key a
// raw key down, the character, a key up, as chromium itself sends them
// (chromedp's KeyEvent sends a key down with text and then the character,
// which xterm.js takes as two keys).
func Type(ctx context.Context, text string) error {
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, r := range text {
			for _, k := range kb.Encode(r) {
				if k.Type == kb.KeyDown {
					k.Type = kb.KeyRawDown
				}
				if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, *k); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}

// Screenshot saves a PNG of the page as name in $TEROK_TEST_ARTIFACTS
// (else in a directory of the test's) and returns its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("TEROK_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	return p
}
