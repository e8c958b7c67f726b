// terok web mode: the page's terminal, bridged to the task's session by a
// WebSocket (binary: the terminal's bytes; text: {"cols","rows"} resizes).
// A dropped connection is reopened, a little later each time; a session
// that is over (close code 4000) or a server that stopped (4001) is not.
(function () {
  "use strict";
  var viewOnly = document.body.dataset.viewOnly === "1";
  var state = document.getElementById("state");
  var term = new Terminal({ cursorBlink: !viewOnly, disableStdin: viewOnly, scrollback: 5000, convertEol: false });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("term"));
  fit.fit();
  term.focus();
  window.terokTerm = term; // for tests and the curious: the page's terminal

  // Copy and paste: ctrl+shift+c copies the selection; ctrl+shift+v (and
  // the browser's own paste) pastes through xterm.js's paste handling.
  term.attachCustomKeyEventHandler(function (e) {
    if (e.type === "keydown" && e.ctrlKey && e.shiftKey && (e.key === "C" || e.key === "c")) {
      var sel = term.getSelection();
      if (sel && navigator.clipboard) { navigator.clipboard.writeText(sel); }
      return false;
    }
    if (e.type === "keydown" && e.ctrlKey && e.shiftKey && (e.key === "V" || e.key === "v")) {
      return false; // the browser's paste event follows
    }
    return true;
  });

  var enc = new TextEncoder();
  var ws = null, delay = 250;

  function setState(text, down) {
    state.textContent = text;
    state.className = down ? "down" : "";
  }

  function sendSize() {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ cols: term.cols, rows: term.rows }));
    }
  }

  function connect() {
    var u = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
      "/ws?cols=" + term.cols + "&rows=" + term.rows;
    ws = new WebSocket(u);
    ws.binaryType = "arraybuffer";
    ws.onopen = function () {
      delay = 250;
      setState(viewOnly ? "connected (view only)" : "connected", false);
      sendSize();
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data !== "string") { term.write(new Uint8Array(ev.data)); }
    };
    ws.onclose = function (ev) {
      if (ev.code === 4000 || ev.code === 4001) {
        setState(ev.reason || "the session is over", true);
        return;
      }
      setState("disconnected; reconnecting", true);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 5000);
    };
  }

  term.onData(function (d) {
    if (!viewOnly && ws && ws.readyState === WebSocket.OPEN) { ws.send(enc.encode(d)); }
  });
  term.onBinary(function (d) {
    if (viewOnly || !ws || ws.readyState !== WebSocket.OPEN) { return; }
    var b = new Uint8Array(d.length);
    for (var i = 0; i < d.length; i++) { b[i] = d.charCodeAt(i) & 255; }
    ws.send(b);
  });
  term.onResize(sendSize);
  window.addEventListener("resize", function () { fit.fit(); });
  connect();
})();
