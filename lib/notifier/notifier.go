package notifier

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/schedule"
)

// The notification service, as the Desktop Notifications Specification
// names it.
const (
	BusName    = "org.freedesktop.Notifications"
	ObjectPath = dbus.ObjectPath("/org/freedesktop/Notifications")
	Interface  = "org.freedesktop.Notifications"
)

// AppName is the application name of every popup.
const AppName = "terok"

// Name is the bus name a running notifier owns: one notifier per session
// (two would show every request twice), and `terok doctor` asks for its
// owner.
const Name = "ai.terok.ClearanceNotifier"

// Defaults of Options.
const (
	DefaultMaxOpen    = 8
	DefaultPerTask    = 3
	DefaultBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	// FinalTimeout is how long a popup that says "Allowed", "Denied" or
	// the failure stays (the server may keep it shorter or longer).
	FinalTimeout = 8 * time.Second
	// callTimeout bounds each call to the notification server, so a
	// wedged server cannot hold the notifier.
	callTimeout = 3 * time.Second
	// decideTimeout bounds a verdict's round trip to a task's warden.
	decideTimeout = 30 * time.Second
	// resyncAfter: after the stream of events starts again, a request not
	// pending any more by then was decided or expired meanwhile.
	resyncAfter = 2 * time.Second
)

// ErrNoBus is Run's error when there is no session bus to show popups on.
var ErrNoBus = errors.New("no session bus")

// ErrRunning is Run's error when another notifier owns Name on the bus.
var ErrRunning = errors.New("another terok notifier runs on this session bus")

// Source is where the notifier reads the clearance's events and sends its
// verdicts: the hub over every task's warden (lib/clearhub), or for tests
// one task's warden.Client.
type Source interface {
	// Watch hands each event of every task to each, the requests pending
	// now first (as "pending" events), until each fails, ctx ends or the
	// stream ends; the notifier watches again after an error or an end.
	Watch(ctx context.Context, each func(clearance.Event) error) error
	// Decide answers request id of task, which must be for dest, with v.
	Decide(ctx context.Context, task, id, dest string, v clearance.Verdict) (clearance.Event, error)
}

// Options are the notifier's settings; zero fields take the defaults.
type Options struct {
	// Bus is the session bus's address; "" finds it as terok's scheduled
	// runs do (schedule.SessionBus: DBUS_SESSION_BUS_ADDRESS, else the bus
	// socket in the user's runtime directory), with Getenv (os.Getenv
	// when nil).
	Bus    string
	Getenv func(string) string
	// MaxOpen is how many request popups are open at once at most;
	// PerTask how many of one task.
	MaxOpen int
	PerTask int
	// Backoff is the first wait before connecting or watching again; it
	// doubles up to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Logf is told what goes wrong and is retried (the command prints it
	// as a warning), from more than one goroutine; nil discards it.
	Logf func(format string, a ...any)
}

func (o *Options) defaults() {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Bus == "" {
		o.Bus = schedule.SessionBus(o.Getenv, os.Getuid())
	}
	if o.MaxOpen <= 0 {
		o.MaxOpen = DefaultMaxOpen
	}
	if o.PerTask <= 0 {
		o.PerTask = DefaultPerTask
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Run shows src's pending requests as popups until ctx ends (then it
// returns nil). It fails at once, with an error wrapping ErrNoBus, when
// there is no session bus or the first connection to it fails; later the
// bus and the notification server may come and go.
func Run(ctx context.Context, src Source, opts Options) error {
	opts.defaults()
	if opts.Bus == "" {
		return fmt.Errorf("%w: DBUS_SESSION_BUS_ADDRESS is not set and the user's runtime directory has no bus socket; run it in a desktop session", ErrNoBus)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := dial(ctx, opts.Bus)
	if errors.Is(err, ErrRunning) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: cannot connect to %s: %v", ErrNoBus, opts.Bus, err)
	}
	n := &notifier{src: src, o: opts, byID: map[string]*entry{}, nids: map[uint32]*entry{},
		events: make(chan watchMsg, 1024), decided: make(chan decision, 16), conns: make(chan busConn, 1)}
	go n.watch(ctx)
	return n.loop(ctx, c)
}

// entry is a request the notifier knows of.
type entry struct {
	req       clearance.Request
	nid       uint32 // its popup on the current server; 0: none posted
	open      bool   // it has a popup (within the bounds), posted or to be posted
	dismissed bool   // the person closed it, or a click failed: left to the other surfaces
	expired   bool   // the server expired its popup: shown again at its next attempt
	deciding  bool   // a click's verdict is on its way
	gen       int    // the watch that last reported it
}

type watchMsg struct {
	ev      clearance.Event
	restart bool // a new watch begins: its backlog follows
}

type decision struct {
	id  string
	ev  clearance.Event
	err error
}

type busConn struct {
	conn *dbus.Conn
	sigs chan *dbus.Signal
	err  error // redial: a fatal error (ErrRunning)
}

// notifier's fields other than the channels belong to loop's goroutine.
type notifier struct {
	src Source
	o   Options

	bus     busConn // conn nil while the bus is away
	order   []*entry
	byID    map[string]*entry
	nids    map[uint32]*entry
	gen     int
	failing bool // a post failed: retry
	retry   *time.Timer
	resync  *time.Timer
	backoff time.Duration

	events  chan watchMsg
	decided chan decision
	conns   chan busConn
}

// dial connects to the bus and subscribes to the signals the notifier
// follows: ActionInvoked and NotificationClosed from any sender (a portal
// relays them), and the notification server's NameOwnerChanged.
func dial(ctx context.Context, addr string) (busConn, error) {
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		return busConn{}, err
	}
	for _, m := range [][]dbus.MatchOption{
		{dbus.WithMatchInterface(Interface), dbus.WithMatchMember("ActionInvoked")},
		{dbus.WithMatchInterface(Interface), dbus.WithMatchMember("NotificationClosed")},
		{dbus.WithMatchSender("org.freedesktop.DBus"), dbus.WithMatchInterface("org.freedesktop.DBus"),
			dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, BusName)},
	} {
		if err := conn.AddMatchSignalContext(ctx, m...); err != nil {
			_ = conn.Close()
			return busConn{}, err
		}
	}
	reply, err := conn.RequestName(Name, dbus.NameFlagDoNotQueue)
	if err == nil && reply != dbus.RequestNameReplyPrimaryOwner {
		err = ErrRunning
		if pid, _, perr := owner(ctx, conn, Name); perr == nil {
			err = fmt.Errorf("%w (pid %d)", ErrRunning, pid)
		}
	}
	if err != nil {
		_ = conn.Close()
		return busConn{}, err
	}
	sigs := make(chan *dbus.Signal, 256)
	conn.Signal(sigs)
	return busConn{conn: conn, sigs: sigs}, nil
}

// watch follows src, again after every end, with backoff.
func (n *notifier) watch(ctx context.Context) {
	backoff := n.o.Backoff
	for {
		select {
		case n.events <- watchMsg{restart: true}:
		case <-ctx.Done():
			return
		}
		began := time.Now()
		err := n.src.Watch(ctx, func(ev clearance.Event) error {
			select {
			case n.events <- watchMsg{ev: ev}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			backoff = n.o.Backoff
		}
		n.o.Logf("the clearance's events ended (%v); watching again in %s", err, backoff)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, n.o.MaxBackoff)
	}
}

// redial connects to the bus again, with backoff, until it answers.
func (n *notifier) redial(ctx context.Context) {
	backoff := n.o.Backoff
	for sleep(ctx, backoff) {
		c, err := dial(ctx, n.o.Bus)
		if err == nil || errors.Is(err, ErrRunning) {
			c.err = err
			n.conns <- c
			return
		}
		backoff = min(2*backoff, n.o.MaxBackoff)
		n.o.Logf("the session bus is away (%v); connecting again in %s", err, backoff)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (n *notifier) loop(ctx context.Context, c busConn) error {
	n.bus = c
	n.backoff = n.o.Backoff
	n.retry = time.NewTimer(time.Hour)
	n.retry.Stop()
	n.resync = time.NewTimer(time.Hour)
	n.resync.Stop()
	defer func() {
		if n.bus.conn != nil {
			_ = n.bus.conn.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-n.events:
			if m.restart {
				n.gen++
				if n.gen > 1 {
					n.resync.Reset(resyncAfter)
				}
				continue
			}
			n.event(m.ev)
		case s, ok := <-n.bus.sigs:
			if !ok {
				n.lost()
				go n.redial(ctx)
				continue
			}
			n.signal(ctx, s)
		case c := <-n.conns:
			if c.err != nil {
				return c.err // another notifier took over while the bus was away
			}
			n.bus = c
			n.o.Logf("connected to the session bus again")
			n.repost()
		case d := <-n.decided:
			n.decision(d)
		case <-n.retry.C:
			n.failing = false
			n.repost()
		case <-n.resync.C:
			n.dropStale()
		}
	}
}

// lost forgets the connection and every popup with it: they are posted
// again on the next one.
func (n *notifier) lost() {
	n.o.Logf("lost the session bus; connecting again")
	if n.bus.conn != nil {
		_ = n.bus.conn.Close()
	}
	n.bus = busConn{}
	n.forgetPopups()
}

func (n *notifier) forgetPopups() {
	clear(n.nids)
	for _, e := range n.order {
		e.nid = 0
	}
}

// repost posts every open request that has no popup (after a new
// connection, a new server, or a failed post).
func (n *notifier) repost() {
	for _, e := range n.order {
		if e.open && e.nid == 0 && !e.deciding {
			n.post(e)
		}
	}
	n.fill()
}

// event follows one of the clearance's events.
func (n *notifier) event(ev clearance.Event) {
	e := n.byID[ev.ID]
	switch ev.Type {
	case clearance.EventPending, clearance.EventUpdated:
		if e == nil {
			e = &entry{req: ev.Request}
			n.byID[ev.ID] = e
			n.order = append(n.order, e)
		}
		e.gen = n.gen
		changed := e.req.Count != ev.Count || e.req.More != ev.More
		e.req = ev.Request
		if changed && e.expired {
			e.expired = false // the task tries again: it may have a popup again
		}
		if e.open && e.nid != 0 && changed && !e.deciding {
			n.post(e)
		}
		n.fill()
	case clearance.EventDecided:
		if e != nil {
			n.final(e, ev, nil)
		}
	case clearance.EventExpired:
		if e != nil {
			n.drop(e)
			n.closePopup(e)
			n.fill()
		}
	}
}

// dropStale, after a new watch has delivered its backlog, drops the
// requests it did not report: they were decided or expired meanwhile.
func (n *notifier) dropStale() {
	for _, e := range slices.Clone(n.order) {
		if e.gen < n.gen {
			n.drop(e)
			n.closePopup(e)
		}
	}
	n.fill()
}

// closePopup closes e's popup, if it has one (a failure is only logged:
// the popup is gone with its server, or stays until dismissed).
func (n *notifier) closePopup(e *entry) {
	if e.nid == 0 || n.bus.conn == nil {
		return
	}
	if err := n.call("CloseNotification", nil, e.nid); err != nil {
		n.o.Logf("cannot close a popup: %v", err)
	}
}

func (n *notifier) drop(e *entry) {
	delete(n.byID, e.req.ID)
	if n.nids[e.nid] == e {
		delete(n.nids, e.nid)
	}
	n.order = slices.DeleteFunc(n.order, func(x *entry) bool { return x == e })
}

// fill opens popups for the waiting requests, oldest first, within the
// bounds: MaxOpen in all and PerTask per task (a task's "and N more"
// request is not counted in its PerTask, so it shows beside them).
func (n *notifier) fill() {
	open, per := 0, map[string]int{}
	for _, e := range n.order {
		if e.open {
			open++
			if e.req.Kind != clearance.KindOverflow {
				per[e.req.Task]++
			}
		}
	}
	for _, e := range n.order {
		if open >= n.o.MaxOpen {
			return
		}
		if e.open || e.dismissed || e.expired || (e.req.Kind != clearance.KindOverflow && per[e.req.Task] >= n.o.PerTask) {
			continue
		}
		e.open = true
		open++
		if e.req.Kind != clearance.KindOverflow {
			per[e.req.Task]++
		}
		n.post(e)
	}
}

// post shows e's popup, replacing the one it has.
func (n *notifier) post(e *entry) {
	if n.bus.conn == nil {
		return // posted again on the next connection
	}
	summary, body := render(e.req)
	var actions []string
	if e.req.Kind != clearance.KindOverflow {
		actions = []string{
			actionKey(keyAllow, e.req.ID), "Allow",
			actionKey(keyAllowProject, e.req.ID), "Allow for project",
			actionKey(keyDeny, e.req.ID), "Deny",
		}
	}
	hints := map[string]dbus.Variant{
		"urgency":  dbus.MakeVariant(byte(2)), // critical
		"resident": dbus.MakeVariant(true),
		"category": dbus.MakeVariant("network"),
	}
	id, err := n.notify(e.nid, summary, body, actions, hints, 0)
	if n.nids[e.nid] == e {
		delete(n.nids, e.nid)
	}
	if err != nil {
		e.nid = 0
		n.postFailed(err)
		return
	}
	e.nid = id
	n.nids[id] = e
	n.backoff = n.o.Backoff
}

// postFailed arms the retry: the server may be away (it is posted again
// when one takes the name, or at the retry).
func (n *notifier) postFailed(err error) {
	if n.failing {
		return
	}
	n.failing = true
	n.o.Logf("cannot show a popup (%v); trying again in %s", err, n.backoff)
	n.retry.Reset(n.backoff)
	n.backoff = min(2*n.backoff, n.o.MaxBackoff)
}

// final replaces e's popup by the verdict (ev, a decided event) or the
// failure of a click (err), and forgets e.
func (n *notifier) final(e *entry, ev clearance.Event, err error) {
	n.drop(e)
	if e.open && n.bus.conn != nil {
		summary, body := renderFinal(e.req, ev, err)
		hints := map[string]dbus.Variant{
			"urgency":  dbus.MakeVariant(byte(1)),
			"resident": dbus.MakeVariant(false),
			"category": dbus.MakeVariant("network"),
		}
		if _, err := n.notify(e.nid, summary, body, nil, hints, int32(FinalTimeout/time.Millisecond)); err != nil {
			n.o.Logf("cannot show the verdict: %v", err)
		}
	}
	n.fill()
}

func (n *notifier) notify(replaces uint32, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, error) {
	if actions == nil {
		actions = []string{}
	}
	var id uint32
	err := n.call("Notify", &id, AppName, replaces, "", summary, body, actions, hints, timeout)
	return id, err
}

func (n *notifier) call(method string, out any, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c := n.bus.conn.Object(BusName, ObjectPath).CallWithContext(ctx, Interface+"."+method, 0, args...)
	if out == nil {
		return c.Err
	}
	return c.Store(out)
}

// closedExpired is NotificationClosed's reason for a popup that expired.
const closedExpired = 1

// The action keys: a verb and the request's id, so a click on a popup is
// checked against the request the popup shows.
const (
	keyAllow        = "allow"
	keyAllowProject = "allow-project"
	keyDeny         = "deny"
)

func actionKey(verb, id string) string { return verb + ":" + id }

var verdicts = map[string]clearance.Verdict{
	keyAllow:        {Action: clearance.Allow, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceNotify},
	keyAllowProject: {Action: clearance.Allow, Scope: clearance.ScopeProject, Surface: clearance.SurfaceNotify},
	keyDeny:         {Action: clearance.Deny, Scope: clearance.ScopeOnce, Surface: clearance.SurfaceNotify},
}

// signal follows one signal: a click, a closed popup, the server coming
// or going. Nothing is filtered on the sender.
func (n *notifier) signal(ctx context.Context, s *dbus.Signal) {
	switch s.Name {
	case Interface + ".ActionInvoked":
		var nid uint32
		var key string
		if dbus.Store(s.Body, &nid, &key) != nil {
			return
		}
		n.clicked(ctx, nid, key)
	case Interface + ".NotificationClosed":
		var nid, reason uint32
		if dbus.Store(s.Body, &nid, &reason) != nil {
			return
		}
		e := n.nids[nid]
		if e == nil || e.deciding {
			return // not ours, or clicked: the verdict replaces it
		}
		delete(n.nids, nid)
		e.nid, e.open = 0, false
		if reason == closedExpired {
			// A server that expires even critical popups (some do,
			// whatever the timeout asks): the next attempt shows it again.
			e.expired = true
		} else {
			e.dismissed = true
		}
		n.fill()
	case "org.freedesktop.DBus.NameOwnerChanged":
		var name, old, owner string
		if dbus.Store(s.Body, &name, &old, &owner) != nil || name != BusName {
			return
		}
		// The server went away, or another took the name: the popups
		// went with the old one.
		n.forgetPopups()
		if owner != "" {
			n.o.Logf("a notification server is back; showing the pending requests again")
			n.failing = false
			n.backoff = n.o.Backoff
			n.repost()
		}
	}
}

// clicked decides the request behind popup nid, when key is one of its
// actions.
func (n *notifier) clicked(ctx context.Context, nid uint32, key string) {
	e := n.nids[nid]
	verb, id, ok := strings.Cut(key, ":")
	v, known := verdicts[verb]
	if e == nil || !ok || !known || id != e.req.ID || e.deciding {
		return
	}
	e.deciding = true
	r := e.req
	go func() {
		dctx, cancel := context.WithTimeout(ctx, decideTimeout)
		defer cancel()
		ev, err := n.src.Decide(dctx, r.Task, r.ID, r.Dest, v)
		select {
		case n.decided <- decision{id: r.ID, ev: ev, err: err}:
		case <-ctx.Done():
		}
	}()
}

// decision shows a click's outcome, unless the decided event did already.
func (n *notifier) decision(d decision) {
	e := n.byID[d.id]
	if e == nil {
		return
	}
	switch {
	case d.err == nil || d.ev.Type == clearance.EventDecided:
		n.final(e, d.ev, nil)
	default:
		// Refused or unreachable: say so; the request, if still pending,
		// is left to the other surfaces.
		summary, body := renderFinal(e.req, clearance.Event{}, d.err)
		if e.open && n.bus.conn != nil {
			_, _ = n.notify(e.nid, summary, body, nil, map[string]dbus.Variant{
				"urgency": dbus.MakeVariant(byte(1)), "resident": dbus.MakeVariant(false)}, int32(FinalTimeout/time.Millisecond))
		}
		if n.nids[e.nid] == e {
			delete(n.nids, e.nid)
		}
		e.nid, e.open, e.dismissed, e.deciding = 0, false, true, false
		n.fill()
	}
}

// Running says whether a notifier runs on the session bus at addr, and
// its pid; and whether a notification server is there (running, or
// started by the bus when asked).
func Running(ctx context.Context, addr string) (pid uint32, running, server bool, err error) {
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		return 0, false, false, err
	}
	defer conn.Close()
	pid, running, err = owner(ctx, conn, Name)
	if err != nil {
		return 0, false, false, err
	}
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, BusName).Store(&server); err != nil {
		return 0, false, false, err
	}
	if !server {
		var names []string
		if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err == nil {
			server = slices.Contains(names, BusName)
		}
	}
	return pid, running, server, nil
}

// owner is the pid of name's owner on conn's bus, and whether it has one.
func owner(ctx context.Context, conn *dbus.Conn, name string) (uint32, bool, error) {
	var has bool
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has); err != nil || !has {
		return 0, false, err
	}
	var pid uint32
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetConnectionUnixProcessID", 0, name).Store(&pid); err != nil {
		return 0, true, nil // owned; its pid is not for us to know
	}
	return pid, true, nil
}
