// Package resolver is a task's DNS resolver: the only name service a task
// has once terok-shield's ruleset is in force.
//
// It answers only the names its Policy allows. An allowed name is resolved
// through the host's upstream resolvers (from the warden's own network
// namespace, with ordinary sockets), and every address in the answer is
// handed to the Learn hook (which adds it to the firewall's allow sets)
// before the client sees it. Any other name is refused at once, never
// forwarded, and reported through the Blocked hook: DNS cannot be used as a
// tunnel (SECURITY.md, guarantee 2).
//
// The resolver serves on sockets it is given (ServeUDP, ServeTCP): the
// warden makes them inside the task's network namespace, on the task's
// 127.0.0.1:53, and stays in the host's namespace itself.
//
// What a client gets:
//
//   - a name the policy does not allow, or one that is not a plain host
//     name (bytes other than letters, digits, '-' and '_' in a label):
//     REFUSED, from the resolver itself;
//   - in hold mode (Config.Hold), a plain host name of class IN that the
//     policy does not allow is held first, up to HoldTimeout, while
//     someone decides: allowed meanwhile, it is answered as an allowed
//     name is; otherwise REFUSED. At most MaxHeld queries are held at
//     once; beyond, REFUSED at once;
//   - an allowed name: the upstream's answer, cut down to the chain of
//     CNAMEs from the question name and the records of the asked type at
//     its end (no authority section but a negative answer's SOA, no
//     additional records), after Learn accepted every A and AAAA address
//     in it; SERVFAIL if Learn fails or no upstream answers; the upstream's
//     NXDOMAIN as it is;
//   - HTTPS and SVCB questions: an empty answer (NODATA) without asking
//     upstream, so no address hint ever passes the firewall's sets;
//   - ANY, zone transfers and other meta types: NOTIMP; other classes than
//     IN: REFUSED; other opcodes: NOTIMP; zero or several questions and
//     packets that do not parse: FORMERR; responses and runts: nothing.
package resolver
