package shield

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func spansText(ss []span) string {
	var out []string
	for _, s := range ss {
		for _, p := range prefixes(s) {
			out = append(out, p.String())
		}
	}
	return strings.Join(out, " ")
}

func sp(ss ...string) []span {
	var out []span
	for _, s := range ss {
		out = append(out, spanOf(netip.MustParsePrefix(s)))
	}
	return out
}

func TestSpans(t *testing.T) {
	cases := []struct{ got, want string }{
		{spansText(normalise(sp("10.0.0.0/8", "10.1.2.3/32", "11.0.0.0/8"))), "10.0.0.0/7"},
		{spansText(normalise(sp("10.0.0.1/32", "10.0.0.0/32", "10.0.0.3/32"))), "10.0.0.0/31 10.0.0.3/32"},
		{spansText(normalise(sp("240.0.0.0/4", "255.255.255.255/32", "0.0.0.0/8"))), "0.0.0.0/8 240.0.0.0/4"},
		{spansText(normalise(sp("0.0.0.0/0", "10.0.0.0/8"))), "0.0.0.0/0"},
		{spansText(subtract(sp("10.0.0.0/30"), sp("10.0.0.1/32"))), "10.0.0.0/32 10.0.0.2/31"},
		{spansText(subtract(sp("10.0.0.0/8"), sp("0.0.0.0/0"))), ""},
		{spansText(subtract(sp("0.0.0.0/0"), sp("255.255.255.255/32", "0.0.0.0/32"))), "0.0.0.1/32 0.0.0.2/31 0.0.0.4/30 0.0.0.8/29 0.0.0.16/28 0.0.0.32/27 0.0.0.64/26 0.0.0.128/25 0.0.1.0/24 0.0.2.0/23 0.0.4.0/22 0.0.8.0/21 0.0.16.0/20 0.0.32.0/19 0.0.64.0/18 0.0.128.0/17 0.1.0.0/16 0.2.0.0/15 0.4.0.0/14 0.8.0.0/13 0.16.0.0/12 0.32.0.0/11 0.64.0.0/10 0.128.0.0/9 1.0.0.0/8 2.0.0.0/7 4.0.0.0/6 8.0.0.0/5 16.0.0.0/4 32.0.0.0/3 64.0.0.0/2 128.0.0.0/2 192.0.0.0/3 224.0.0.0/4 240.0.0.0/5 248.0.0.0/6 252.0.0.0/7 254.0.0.0/8 255.0.0.0/9 255.128.0.0/10 255.192.0.0/11 255.224.0.0/12 255.240.0.0/13 255.248.0.0/14 255.252.0.0/15 255.254.0.0/16 255.255.0.0/17 255.255.128.0/18 255.255.192.0/19 255.255.224.0/20 255.255.240.0/21 255.255.248.0/22 255.255.252.0/23 255.255.254.0/24 255.255.255.0/25 255.255.255.128/26 255.255.255.192/27 255.255.255.224/28 255.255.255.240/29 255.255.255.248/30 255.255.255.252/31 255.255.255.254/32"},
		{spansText(normalise(sp("2001:db8::/33", "2001:db8:8000::/33"))), "2001:db8::/32"},
		{spansText(normalise(sp("::/0"))), "::/0"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: %s, want %s", i, c.got, c.want)
		}
	}
}

// Interval elements are written as nft writes them and read back to the
// same spans, the open-ended ones (to the last address) included.
func TestElementsRoundTrip(t *testing.T) {
	for _, set := range [][]string{
		{"10.0.0.0/8"}, {"0.0.0.0/8", "10.0.0.0/8"}, {"240.0.0.0/4"}, {"0.0.0.0/0"}, {"192.0.2.7/32", "198.51.100.0/24"},
		{"fc00::/7", "ff00::/8"}, {"::/0"}, {"::1/128"},
	} {
		in := normalise(sp(set...))
		is4 := in[0].lo.Is4()
		els := elements(in, is4)
		var desc []string
		for _, e := range els {
			a, _ := netip.AddrFromSlice(e.Key)
			desc = append(desc, fmt.Sprintf("%s/%v", a, e.IntervalEnd))
		}
		// Reversed, as the kernel lists them.
		rev := append(els[:0:0], els...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		if got := spansText(spansOf(rev, is4)); got != spansText(in) {
			t.Errorf("%v → %v → %s", set, desc, got)
		}
	}
}
