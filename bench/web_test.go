package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/terok-ai/terok-go/lib/web/webtest"
)

// echoJS types n keys into the page's terminal (as xterm.js's own input,
// the path of a key press: onData, the WebSocket, the engine's exec
// stream to tmux and bash) and times each until bash's echo of it is on
// the screen; it returns the times in ms. The line is cleared (ctrl-u)
// every 16 keys.
const echoJS = `(async function(n){
  var t = window.terokTerm, out = [], typed = "";
  function line(){ var b=t.buffer.active, l=b.getLine(b.baseY+b.cursorY); return l ? l.translateToString(true) : ""; }
  function until(ok){ return new Promise(function(res){
    if (ok()) { res(); return; }
    var d = t.onWriteParsed(function(){ if (ok()) { d.dispose(); res(); } });
  }); }
  for (var i = 0; i < n; i++) {
    if (typed.length === 16) { var was = typed; t.input("\x15"); await until(function(){ return line().indexOf(was) < 0; }); typed = ""; }
    typed += String.fromCharCode(97 + i %% 26);
    var want = typed, t0 = performance.now();
    t.input(want.slice(-1));
    await until(function(){ return line().endsWith(want); });
    out.push(performance.now() - t0);
  }
  return out;
})(%d)`

// BenchmarkWebEcho: a key typed in the browser's terminal of a web-mode
// task, to its echo by the task's bash on the page (goal: under 20 ms),
// against `terok-task exec ID -- echo` of the same, the engine's path
// without the browser (a process started per echo, so the web's echo
// should be the smaller: the ratio says by how much). Needs podman and
// chromium.
func BenchmarkWebEcho(b *testing.B) {
	tp := newTaskProject(b)
	web := exec.Command(filepath.Join(tp.bin, "terok-task"), "run", "--web", "--shell", "bench")
	web.Env = tp.env
	out, err := web.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := web.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = web.Process.Signal(syscall.SIGTERM); _ = web.Wait() })
	var ev struct{ ID, URL string }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || json.Unmarshal([]byte(line), &ev) != nil {
		b.Fatalf("run --web printed %q (%v)", line, err)
	}
	u, _ := url.Parse(ev.URL)
	br := webtest.Start(b, "http://"+u.Host)
	tab := br.Tab()
	if err := chromedp.Do(tab, chromedp.Navigate(ev.URL)); err != nil {
		b.Fatal(err)
	}
	webtest.WaitScreen(b, tab, "C-b d detaches", 60*time.Second)
	webtest.WaitScreen(b, tab, "$ ", 30*time.Second)

	rounds := max(b.N, 20)
	js := chromedp.Evaluate[[]float64](fmt.Sprintf(echoJS, rounds), chromedp.EvalAwaitPromise)
	if _, err := chromedp.Run(tab, chromedp.Evaluate[[]float64](fmt.Sprintf(echoJS, 5), chromedp.EvalAwaitPromise)); err != nil {
		b.Fatal(err) // warm up
	}
	b.ResetTimer()
	webMS, err := chromedp.Run(tab, js)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	execRounds := min(rounds, 20)
	var execMS []float64
	for range execRounds {
		cmd := exec.Command(filepath.Join(tp.bin, "terok-task"), "exec", ev.ID, "--", "echo", "a")
		cmd.Env = tp.env
		t0 := time.Now()
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("exec: %v\n%s", err, o)
		}
		execMS = append(execMS, float64(time.Since(t0).Microseconds())/1000)
	}
	if out := br.Outside(); len(out) > 0 {
		b.Fatalf("the page asked for things elsewhere: %v", out)
	}
	w, x := mean(webMS), mean(execMS)
	b.ReportMetric(w, "web-echo-ms")
	b.ReportMetric(median(webMS), "web-echo-p50-ms")
	b.ReportMetric(slices.Max(webMS), "web-echo-max-ms")
	b.ReportMetric(x, "exec-echo-ms")
	b.ReportMetric(w/x, "ratio")
	b.ReportMetric(0, "ns/op")
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
