package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// HostUpstreams returns the nameservers of a resolv.conf file as
// host:port, in order.
func HostUpstreams(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the host's resolvers: %w", err)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no nameserver in %s", path)
	}
	return out, nil
}

// forward asks the upstreams in turn until one answers NOERROR or NXDOMAIN.
// The query is made afresh from the allowed name and type: nothing else of
// the client's message (its id, flags, EDNS options) leaves the resolver.
func (r *Resolver) forward(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.query)
	defer cancel()
	var errs []error
	for _, server := range r.upstreams {
		m, err := r.exchange(ctx, server, name, qtype)
		if err == nil {
			if m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError {
				return m, nil
			}
			err = fmt.Errorf("%s answered %s", server, dns.RcodeToString[m.Rcode])
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("no upstream answered: %w", errors.Join(errs...))
}

// exchange asks one upstream over UDP, and again over TCP when the answer
// was truncated.
func (r *Resolver) exchange(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(ednsSize, false)
	m, err := r.exchangeOver(ctx, "udp", server, q)
	if err == nil && m.Truncated {
		q.Id = dns.Id()
		m, err = r.exchangeOver(ctx, "tcp", server, q)
	}
	if err != nil {
		return nil, err
	}
	if !m.Response || len(m.Question) != 1 || m.Question[0].Qtype != qtype ||
		!strings.EqualFold(m.Question[0].Name, q.Question[0].Name) {
		return nil, fmt.Errorf("%s answered another question", server)
	}
	return m, nil
}

func (r *Resolver) exchangeOver(ctx context.Context, network, server string, q *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: r.attempt}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// Close (or the query's deadline) ends a wait on a silent upstream now,
	// not when the attempt's own timeout runs out.
	defer context.AfterFunc(ctx, func() { _ = conn.Close() })() // the query's own error says why
	m, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("%s over %s: %w", server, network, err)
	}
	return m, nil
}
