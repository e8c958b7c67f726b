package shield

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Describe renders a rule's expressions in a form close to nft's own
// ("meta nfproto ipv4 ip daddr @allow4 0x00000001 @alive accept"). It is
// what Verify compares: a rule read back from the kernel must describe
// exactly as the rule built, expression by expression.
func Describe(exprs []expr.Any) string {
	var out []string
	field := "" // what the last load put into the register
	ctMask := uint32(0)
	var imm []byte // what the last immediate loaded
	for _, e := range exprs {
		switch x := e.(type) {
		case *expr.Meta:
			field = "meta " + metaName(x.Key)
		case *expr.Payload:
			field = payloadName(x)
		case *expr.Ct:
			field = "ct " + ctName(x.Key)
		case *expr.Immediate:
			field, imm = fmt.Sprintf("0x%x", x.Data), x.Data
		case *expr.Redir:
			if len(imm) == 2 && x.RegisterProtoMin != 0 {
				out = append(out, fmt.Sprintf("redirect to :%d", binary.BigEndian.Uint16(imm)))
			} else {
				out = append(out, fmt.Sprintf("redirect %+v", *x))
			}
		case *expr.Bitwise:
			if field == "ct state" && len(x.Mask) == 4 && allZero(x.Xor) {
				ctMask = binary.NativeEndian.Uint32(x.Mask)
				field = "ct state&"
			} else {
				field += fmt.Sprintf(" & 0x%x ^ 0x%x", x.Mask, x.Xor)
			}
		case *expr.Cmp:
			out = append(out, describeCmp(field, ctMask, x))
		case *expr.Range:
			out = append(out, fmt.Sprintf("%s %s-%s", field, value(field, x.FromData), value(field, x.ToData)))
		case *expr.Lookup:
			inv := ""
			if x.Invert {
				inv = "!= "
			}
			out = append(out, fmt.Sprintf("%s %s@%s", field, inv, x.SetName))
		case *expr.Verdict:
			out = append(out, verdictName(x))
		case *expr.Reject:
			out = append(out, rejectName(x))
		case *expr.Log:
			out = append(out, fmt.Sprintf("log group %d prefix %q", x.Group, strings.TrimRight(string(x.Data), "\x00")))
		default:
			out = append(out, fmt.Sprintf("%T%+v", e, e))
		}
	}
	return strings.Join(out, " ")
}

// RuleComment returns a rule's comment, if it has one.
func RuleComment(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

func describeCmp(field string, ctMask uint32, x *expr.Cmp) string {
	op := map[expr.CmpOp]string{expr.CmpOpEq: "", expr.CmpOpNeq: "!= ", expr.CmpOpLt: "< ",
		expr.CmpOpLte: "<= ", expr.CmpOpGt: "> ", expr.CmpOpGte: ">= "}[x.Op]
	if field == "ct state&" && x.Op == expr.CmpOpNeq && allZero(x.Data) {
		return "ct state " + ctStates(ctMask)
	}
	return fmt.Sprintf("%s %s%s", field, op, value(field, x.Data))
}

func value(field string, b []byte) string {
	switch field {
	case "meta nfproto":
		if len(b) == 1 {
			switch b[0] {
			case unix.NFPROTO_IPV4:
				return "ipv4"
			case unix.NFPROTO_IPV6:
				return "ipv6"
			}
		}
	case "meta l4proto":
		if len(b) == 1 {
			switch b[0] {
			case unix.IPPROTO_TCP:
				return "tcp"
			case unix.IPPROTO_UDP:
				return "udp"
			case unix.IPPROTO_ICMPV6:
				return "icmpv6"
			}
			return fmt.Sprint(b[0])
		}
	case "meta oifname", "meta iifname":
		return fmt.Sprintf("%q", strings.TrimRight(string(b), "\x00"))
	case "ip daddr", "ip6 daddr":
		if a, ok := netip.AddrFromSlice(b); ok {
			return a.String()
		}
	case "th dport":
		if len(b) == 2 {
			return fmt.Sprint(binary.BigEndian.Uint16(b))
		}
	case "icmpv6 type":
		if len(b) == 1 {
			return fmt.Sprint(b[0])
		}
	}
	return fmt.Sprintf("0x%x", b)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func metaName(k expr.MetaKey) string {
	switch k {
	case expr.MetaKeyNFPROTO:
		return "nfproto"
	case expr.MetaKeyL4PROTO:
		return "l4proto"
	case expr.MetaKeyOIFNAME:
		return "oifname"
	case expr.MetaKeyIIFNAME:
		return "iifname"
	case expr.MetaKeyOIF:
		return "oif"
	case expr.MetaKeyIIF:
		return "iif"
	case expr.MetaKeyMARK:
		return "mark"
	}
	return fmt.Sprintf("key%d", k)
}

func payloadName(p *expr.Payload) string {
	switch {
	case p.Base == expr.PayloadBaseNetworkHeader && p.Offset == 16 && p.Len == 4:
		return "ip daddr"
	case p.Base == expr.PayloadBaseNetworkHeader && p.Offset == 24 && p.Len == 16:
		return "ip6 daddr"
	case p.Base == expr.PayloadBaseTransportHeader && p.Offset == 2 && p.Len == 2:
		return "th dport"
	case p.Base == expr.PayloadBaseTransportHeader && p.Offset == 0 && p.Len == 1:
		return "icmpv6 type"
	}
	return fmt.Sprintf("payload base %d offset %d len %d", p.Base, p.Offset, p.Len)
}

func ctName(k expr.CtKey) string {
	if k == expr.CtKeySTATE {
		return "state"
	}
	return fmt.Sprintf("key%d", k)
}

func ctStates(mask uint32) string {
	names := []struct {
		bit  uint32
		name string
	}{
		{expr.CtStateBitINVALID, "invalid"}, {expr.CtStateBitESTABLISHED, "established"},
		{expr.CtStateBitRELATED, "related"}, {expr.CtStateBitNEW, "new"}, {expr.CtStateBitUNTRACKED, "untracked"},
	}
	var out []string
	for _, n := range names {
		if mask&n.bit != 0 {
			out = append(out, n.name)
			mask &^= n.bit
		}
	}
	if mask != 0 {
		out = append(out, fmt.Sprintf("0x%x", mask))
	}
	return strings.Join(out, ",")
}

func verdictName(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	case expr.VerdictContinue:
		return "continue"
	}
	return fmt.Sprintf("verdict %d", v.Kind)
}

func rejectName(r *expr.Reject) string {
	switch {
	case r.Type == unix.NFT_REJECT_TCP_RST:
		return "reject with tcp reset"
	case r.Type == unix.NFT_REJECT_ICMPX_UNREACH && r.Code == unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED:
		return "reject with icmpx admin-prohibited"
	}
	return fmt.Sprintf("reject type %d code %d", r.Type, r.Code)
}
