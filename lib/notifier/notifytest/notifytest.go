// Package notifytest is a desktop's notification server for the tests: it
// implements org.freedesktop.Notifications on a real D-Bus session bus,
// records every Notify and CloseNotification, and lets a test click an
// action. It is the only stand-in in the notifier's tests, because no
// desktop exists where they run; the bus (Bus, a real dbus-daemon), the
// notifier and the wardens are real.
package notifytest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	busName    = "org.freedesktop.Notifications"
	objectPath = dbus.ObjectPath("/org/freedesktop/Notifications")
	iface      = "org.freedesktop.Notifications"
)

// Notification is one Notify call as the server got it, with the id it
// answered.
type Notification struct {
	ID         uint32
	App        string
	ReplacesID uint32
	Icon       string
	Summary    string
	Body       string
	Actions    []string // key, label, key, label, ...
	Hints      map[string]dbus.Variant
	Timeout    int32
	At         time.Time
}

// Urgency is the urgency hint (0 when there is none).
func (n Notification) Urgency() byte {
	u, _ := n.Hints["urgency"].Value().(byte)
	return u
}

// Resident is the resident hint.
func (n Notification) Resident() bool {
	r, _ := n.Hints["resident"].Value().(bool)
	return r
}

// Labels are the actions' labels, in order.
func (n Notification) Labels() []string {
	var out []string
	for i := 1; i < len(n.Actions); i += 2 {
		out = append(out, n.Actions[i])
	}
	return out
}

// Key is the key of the action labelled label ("" when none is).
func (n Notification) Key(label string) string {
	for i := 0; i+1 < len(n.Actions); i += 2 {
		if n.Actions[i+1] == label {
			return n.Actions[i]
		}
	}
	return ""
}

// Server is the notification server. Start it with Start; Stop and Start
// again stand for a desktop's server going away and coming back. Its ids
// start at 1 on every start, as a real server's do.
type Server struct {
	addr string
	// Relay makes the signals (ActionInvoked, NotificationClosed) come
	// from another connection than the server's, as a portal relays them.
	Relay bool
	// OnNotify, when set, is called with each Notify as it arrives (the
	// benchmark's clock).
	OnNotify func(Notification)

	mu      sync.Mutex
	conn    *dbus.Conn
	relay   *dbus.Conn
	next    uint32
	open    map[uint32]bool
	got     []Notification
	closed  []uint32 // CloseNotification's ids
	changed chan struct{}
}

// New is a server for the bus at addr, not started.
func New(addr string) *Server {
	return &Server{addr: addr, changed: make(chan struct{})}
}

// Start connects to the bus and takes the name.
func (s *Server) Start() error {
	conn, err := dbus.Connect(s.addr)
	if err != nil {
		return err
	}
	var relay *dbus.Conn
	if s.Relay {
		if relay, err = dbus.Connect(s.addr); err != nil {
			_ = conn.Close()
			return err
		}
	}
	s.mu.Lock()
	s.conn, s.relay, s.next, s.open = conn, relay, 0, map[uint32]bool{}
	s.mu.Unlock()
	if err := conn.Export(handler{s}, objectPath, iface); err != nil {
		_ = s.Stop()
		return err
	}
	reply, err := conn.RequestName(busName, dbus.NameFlagDoNotQueue)
	if err == nil && reply != dbus.RequestNameReplyPrimaryOwner {
		err = fmt.Errorf("another server owns %s", busName)
	}
	if err != nil {
		_ = s.Stop()
		return err
	}
	return nil
}

// Stop leaves the bus: the name is free, the popups are gone.
func (s *Server) Stop() error {
	s.mu.Lock()
	conn, relay := s.conn, s.relay
	s.conn, s.relay = nil, nil
	s.mu.Unlock()
	if relay != nil {
		_ = relay.Close()
	}
	if conn == nil {
		return nil
	}
	return conn.Close()
}

// Notifications are every Notify so far, in order.
func (s *Server) Notifications() []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// Closed are the ids CloseNotification was called with, in order.
func (s *Server) Closed() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.closed)
}

// Open is how many notifications are open: posted, not closed, resident
// or not (the server expires nothing).
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// Wait waits up to d for ok to hold on the notifications so far, and
// returns them; ok false at the end is an error.
func (s *Server) Wait(d time.Duration, ok func([]Notification) bool) ([]Notification, error) {
	deadline := time.After(d)
	for {
		s.mu.Lock()
		got, changed := slices.Clone(s.got), s.changed
		s.mu.Unlock()
		if ok(got) {
			return got, nil
		}
		select {
		case <-changed:
		case <-deadline:
			return got, errors.New("timed out waiting for the notifications")
		}
	}
}

// Click is a person clicking the action key of notification id: the
// server emits ActionInvoked, then closes it (NotificationClosed, reason
// 2, dismissed) as a server does unless it is resident.
func (s *Server) Click(id uint32, key string) error {
	if err := s.emit("ActionInvoked", id, key); err != nil {
		return err
	}
	return s.Dismiss(id)
}

// Dismiss is a person closing notification id (reason 2).
func (s *Server) Dismiss(id uint32) error { return s.close(id, 2) }

// Expire is the server expiring notification id (reason 1), as some
// servers do with every popup after a while, whatever it asked for.
func (s *Server) Expire(id uint32) error { return s.close(id, 1) }

func (s *Server) close(id, reason uint32) error {
	s.mu.Lock()
	delete(s.open, id)
	s.mu.Unlock()
	return s.emit("NotificationClosed", id, reason)
}

func (s *Server) emit(member string, args ...any) error {
	s.mu.Lock()
	conn := s.conn
	if s.relay != nil {
		conn = s.relay
	}
	s.mu.Unlock()
	if conn == nil {
		return errors.New("the server is stopped")
	}
	return conn.Emit(objectPath, iface+"."+member, args...)
}

// record keeps n and wakes the waiters.
func (s *Server) record(n Notification) uint32 {
	s.mu.Lock()
	if n.ReplacesID != 0 && s.open[n.ReplacesID] {
		n.ID = n.ReplacesID
	} else {
		s.next++
		n.ID = s.next
	}
	s.open[n.ID] = true
	s.got = append(s.got, n)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return n.ID
}

// handler is the exported object: the methods are the specification's.
type handler struct{ s *Server }

func (h handler) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n := Notification{App: app, ReplacesID: replaces, Icon: icon, Summary: summary, Body: body,
		Actions: actions, Hints: hints, Timeout: timeout, At: time.Now()}
	if h.s.OnNotify != nil {
		h.s.OnNotify(n)
	}
	return h.s.record(n), nil
}

func (h handler) CloseNotification(id uint32) *dbus.Error {
	h.s.mu.Lock()
	h.s.closed = append(h.s.closed, id)
	_, was := h.s.open[id]
	delete(h.s.open, id)
	h.s.mu.Unlock()
	if was {
		_ = h.s.emit("NotificationClosed", id, uint32(3))
	}
	return nil
}

func (h handler) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"actions", "body", "body-markup", "persistence"}, nil
}

func (h handler) GetServerInformation() (name, vendor, version, spec string, err *dbus.Error) {
	return "notifytest", "terok", "1", "1.2", nil
}

// Bus is a dbus-daemon session bus of a test's own, at a fixed address so
// that a new daemon can take the place of a killed one.
type Bus struct {
	Addr string
	path string
	cmd  *exec.Cmd
}

// busConfig is a session bus without service activation: nothing the
// host has installed (a real notification server) is started on it.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// StartBus starts a session bus listening on the socket path (its
// directory must exist); the daemon is killed by Kill.
func StartBus(path string) (*Bus, error) {
	b := &Bus{Addr: "unix:path=" + path, path: path}
	return b, b.start()
}

func (b *Bus) start() error {
	_ = os.Remove(b.path) // a killed daemon's socket
	conf := b.path + ".conf"
	if err := os.WriteFile(conf, []byte(busConfig), 0o600); err != nil {
		return err
	}
	cmd := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile", "--address="+b.Addr)
	if err := cmd.Start(); err != nil {
		return err
	}
	b.cmd = cmd
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if c, err := dbus.Connect(b.Addr); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Kill()
	return fmt.Errorf("dbus-daemon did not listen on %s", b.Addr)
}

// Restart starts a new daemon on the same address (after Kill).
func (b *Bus) Restart() error { return b.start() }

// Kill kills the daemon (by its pid) and waits for it.
func (b *Bus) Kill() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	b.cmd = nil
	_ = os.Remove(filepath.Clean(b.path))
}
