package clearancecmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
	{Title: "REQUESTS", Body: `A request is one destination a running task was refused: a connection the shield blocked (kind blocked; the destination is the name the task's resolver last answered for the address, else the address) or a name the resolver refused (kind refused, protocol dns-name). Repeats of the same task, destination, port and protocol fold into one request, counted. A task has at most 64 pending requests; beyond that new destinations fold into one "and N more" request (kind overflow), which cannot be decided. A request nobody decides expires 5 minutes after its last attempt, and all of a task's requests go when its warden ends.

An id is 26 characters of a-z and 2-7, drawn at random, and bound to its task and destination: a verdict names the id, the task and the destination, and the task's warden refuses it when the destination is not the request's, or the id is unknown or already decided or expired (exit 4). A refused verdict changes nothing.`},
	{Title: "VERDICTS", Body: `allow and deny change the task's policy at once, as terok-shield allow and deny do: the whole destination (every port) is allowed or denied, open connections to a denied one are cut. allow --for D allows for D only (at most 24h). With --project the destination is also written into the project's project.toml, [shield] allow (or deny), and taken off the other list, so the project's later tasks get it; the file is edited in place (other keys and comments are kept; a comment inside the list edited is not), checked, and written atomically, or not at all. --project asks first on a terminal; without one it needs --yes.

allow - and deny - read stdin line by line as it comes: a JSON object with id, task and dest (a line of watch or ls), or a bare id. Each request is decided as its line arrives, so terok-clearance watch | jq -c 'select(.dest == "api.example.com")' | terok-clearance allow - allows each matching request the moment it appears. Lines of decided and expired events, and repeats of a request already taken, are skipped; a refused line is reported on stderr and the others go on; the exit is 1 if any was refused.

Bare terok-clearance on a terminal is a picker: the pending requests of every running task, newest last; choosing one offers Allow once, Allow for the project (no further question) and Deny. The list is shown afresh when a request comes or goes. Esc leaves.`},
	{Title: "DESKTOP NOTIFICATIONS", Body: `terok-clearance notify shows each pending request as a desktop notification (org.freedesktop.Notifications on the session bus: DBUS_SESSION_BUS_ADDRESS, else the bus socket in the user's runtime directory), critical and resident, with the actions Allow, Allow for project and Deny. More attempts update the same notification with their count; a verdict from any surface replaces it with what was decided, or why it failed. At most 8 notifications are open at once, 3 of one task; the rest wait their turn. It keeps running when the bus or the notification server goes away, and shows what is still pending when they come back. Only one runs per session. terok setup runs it at login in a desktop session (a systemd user unit where systemd runs the session, an XDG autostart entry otherwise; --no-notifier leaves it out); terok doctor says whether it runs. Without a session bus it exits 3; when another runs on the bus, 1.`},
	{Title: "JSON FIELDS", Body: `watch prints one object per event, allow and deny one per verdict (a decided event):

  type  pending (a new request, or one pending when watch began), updated (more attempts), decided (a verdict answered it) or expired (nobody decided in time, or its task's warden ended)
  id  the request's id
  task  the task's id
  project  the task's project
  dest  the destination: a name, or an address
  port  the port (none for a refused name)
  proto  tcp, udp or dns-name
  kind  blocked, refused or overflow
  first_seen  the first attempt, RFC 3339
  last_seen  the last attempt, RFC 3339
  count  attempts folded into the request
  more  (overflow) how many destinations it stands for
  action  (decided) allow or deny
  scope  (decided) once (this task), project (also the project's rules) or for-duration
  duration  (for-duration) how long, as "1h0m0s"
  who  (decided) the uid of the person who decided
  surface  (decided) where: cli (allow/deny with ids), json (allow/deny -), terminal (the picker), notify (the desktop)
  error  (decided) why the verdict could not be applied

ls prints one object per pending request, with the request's fields above (id to more).`},
}
