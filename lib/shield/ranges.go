package shield

import (
	"bytes"
	"net/netip"
	"slices"

	"github.com/google/nftables"

	"github.com/terok-ai/terok-go/lib/config"
)

// span is an inclusive range of addresses of one family: what an element
// of an interval set holds.
type span struct{ lo, hi netip.Addr }

func spanOf(p netip.Prefix) span {
	p = p.Masked()
	lo := p.Addr()
	hi := lo.AsSlice()
	bits := p.Bits()
	for i := range hi {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				hi[i] |= 0x80 >> b
			}
		}
	}
	h, _ := netip.AddrFromSlice(hi)
	return span{lo, h}
}

func (s span) contains(o span) bool {
	return s.lo.Compare(o.lo) <= 0 && o.hi.Compare(s.hi) <= 0
}

// maxAddr is the highest address of a's family.
func maxAddr(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}

func zeroAddr(is4 bool) netip.Addr {
	if is4 {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// normalise sorts spans and merges those that overlap or touch: the
// kernel refuses overlapping intervals in one set, and the union is what
// the set means anyway.
func normalise(in []span) []span {
	if len(in) == 0 {
		return nil
	}
	s := slices.Clone(in)
	slices.SortFunc(s, func(a, b span) int { return a.lo.Compare(b.lo) })
	out := []span{s[0]}
	for _, x := range s[1:] {
		last := &out[len(out)-1]
		if last.hi == maxAddr(last.hi) || x.lo.Compare(last.hi.Next()) <= 0 {
			if x.hi.Compare(last.hi) > 0 {
				last.hi = x.hi
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

// subtract returns the addresses of in that are not in cut (both
// normalised, one family).
func subtract(in, cut []span) []span {
	var out []span
	for _, x := range in {
		parts := []span{x}
		for _, c := range cut {
			var next []span
			for _, p := range parts {
				if c.hi.Compare(p.lo) < 0 || c.lo.Compare(p.hi) > 0 {
					next = append(next, p)
					continue
				}
				if c.lo.Compare(p.lo) > 0 {
					next = append(next, span{p.lo, c.lo.Prev()})
				}
				if c.hi.Compare(p.hi) < 0 {
					next = append(next, span{c.hi.Next(), p.hi})
				}
			}
			parts = next
		}
		out = append(out, parts...)
	}
	return out
}

// elements turns normalised spans into the elements of an interval set,
// the way nft itself writes them: a start element per span, an end element
// one past its end unless it reaches the family's last address, and a
// leading end element at zero when the first span does not start there.
func elements(spans []span, is4 bool) []nftables.SetElement {
	var els []nftables.SetElement
	if len(spans) > 0 && spans[0].lo != zeroAddr(is4) {
		els = append(els, nftables.SetElement{Key: zeroAddr(is4).AsSlice(), IntervalEnd: true})
	}
	for _, s := range spans {
		els = append(els, nftables.SetElement{Key: s.lo.AsSlice()})
		if s.hi != maxAddr(s.hi) {
			els = append(els, nftables.SetElement{Key: s.hi.Next().AsSlice(), IntervalEnd: true})
		}
	}
	return els
}

// spansOf reads the elements of an interval set back into spans (the
// kernel lists them in any order).
func spansOf(els []nftables.SetElement, is4 bool) []span {
	e := slices.Clone(els)
	sortElements(e)
	var out []span
	var open *netip.Addr
	for _, x := range e {
		a, ok := netip.AddrFromSlice(x.Key)
		if !ok || a.Is4() != is4 {
			continue
		}
		if x.IntervalEnd {
			if open != nil {
				out = append(out, span{*open, a.Prev()})
				open = nil
			}
			continue
		}
		if open == nil {
			v := a
			open = &v
		}
	}
	if open != nil {
		out = append(out, span{*open, maxAddr(*open)})
	}
	return normalise(out)
}

// sortElements sorts interval elements by key, an end before a start at
// the same key ([a,b) then [b,c)).
func sortElements(e []nftables.SetElement) {
	slices.SortFunc(e, func(a, b nftables.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		switch {
		case a.IntervalEnd && !b.IntervalEnd:
			return -1
		case !a.IntervalEnd && b.IntervalEnd:
			return 1
		}
		return 0
	})
}

// spansOfTargets returns the spans of the address and range targets of
// one family.
func spansOfTargets(ts []config.Target, is4 bool) []span {
	var out []span
	for _, t := range ts {
		if isNet(t) && t.Prefix.Addr().Is4() == is4 {
			out = append(out, spanOf(t.Prefix))
		}
	}
	return normalise(out)
}

// isNet: an address or a range (what the sets hold; names are the
// resolver's).
func isNet(t config.Target) bool {
	return (t.Kind == config.TargetAddr || t.Kind == config.TargetRange) && t.Prefix.IsValid()
}

// prefixes turns a span back into the fewest CIDR ranges that cover it
// exactly, for showing a set's contents.
func prefixes(s span) []netip.Prefix {
	var out []netip.Prefix
	lo := s.lo
	for {
		bits := lo.BitLen()
		// The largest aligned block starting at lo that ends within s.
		for bits > 0 {
			p := netip.PrefixFrom(lo, bits-1)
			if p.Masked().Addr() != lo || spanOf(p).hi.Compare(s.hi) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(lo, bits)
		out = append(out, p)
		end := spanOf(p).hi
		if end.Compare(s.hi) >= 0 || end == maxAddr(end) {
			return out
		}
		lo = end.Next()
	}
}
