package endpoint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/terok-ai/terok-go/lib/gate"
)

// The pkt-line framing of git's wire protocol: four hex digits giving the
// length of the line including themselves, then the payload; "0000" is a
// flush. Only what a push request and a receive-pack response use is here.

const (
	maxPktLen  = 65520 // git's LARGE_PACKET_MAX, length prefix included
	maxUpdates = 10000 // ref updates in one push
)

var errFlush = errors.New("flush-pkt")

// readPkt reads one pkt-line. It returns errFlush for a flush-pkt.
func readPkt(r *bufio.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	n, err := strconv.ParseUint(string(hdr[:]), 16, 16)
	if err != nil || !isHex(hdr[:]) {
		return nil, fmt.Errorf("bad pkt-line length %q", hdr[:])
	}
	switch {
	case n == 0:
		return nil, errFlush
	case n < 4 || n > maxPktLen:
		return nil, fmt.Errorf("bad pkt-line length %d", n)
	}
	buf := make([]byte, n-4)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return buf, nil
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// pkt frames payload as one pkt-line.
func pkt(payload []byte) []byte {
	out := make([]byte, 0, len(payload)+4)
	out = fmt.Appendf(out, "%04x", len(payload)+4)
	return append(out, payload...)
}

func pktString(s string) []byte { return pkt([]byte(s)) }

var flushPkt = []byte("0000")

// PushRequest is the command section of a receive-pack request, as a git
// client sends it before the pack.
type PushRequest struct {
	Shallow []string // "shallow <oid>" lines before the commands
	Updates []gate.RefUpdate
	Caps    []string // the capabilities on the first command line
}

// Has reports whether the client asked for capability name.
func (p *PushRequest) Has(name string) bool {
	for _, c := range p.Caps {
		if c == name || strings.HasPrefix(c, name+"=") {
			return true
		}
	}
	return false
}

// Sideband reports whether the response is multiplexed.
func (p *PushRequest) Sideband() bool { return p.Has("side-band-64k") || p.Has("side-band") }

// ReportStatus reports whether the client wants per-ref statuses.
func (p *PushRequest) ReportStatus() bool { return p.Has("report-status") || p.Has("report-status-v2") }

// ReadPushRequest reads and checks the command section of a receive-pack
// request up to and including its flush-pkt; r is left at the pack. Every
// old and new id must be 40 lower-case hex digits, every ref name valid,
// no ref updated twice. A request with no commands (git's probe) is valid.
func ReadPushRequest(r *bufio.Reader) (*PushRequest, error) {
	req := &PushRequest{}
	seen := map[string]bool{}
	for first := true; ; {
		line, err := readPkt(r)
		if err == errFlush {
			break
		}
		if err != nil {
			return nil, err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		if rest, ok := bytes.CutPrefix(line, []byte("shallow ")); ok && first {
			if !gate.IsObjectID(string(rest)) {
				return nil, fmt.Errorf("bad shallow line")
			}
			req.Shallow = append(req.Shallow, string(rest))
			continue
		}
		if first {
			if cmd, caps, ok := bytes.Cut(line, []byte{0}); ok {
				line = cmd
				req.Caps = strings.Fields(string(caps))
			}
		} else if bytes.IndexByte(line, 0) >= 0 {
			return nil, fmt.Errorf("NUL in a command line")
		}
		first = false
		u, err := parseUpdate(line)
		if err != nil {
			return nil, err
		}
		if seen[u.Ref] {
			return nil, fmt.Errorf("ref %s updated twice", u.Ref)
		}
		seen[u.Ref] = true
		if len(req.Updates) == maxUpdates {
			return nil, fmt.Errorf("more than %d ref updates", maxUpdates)
		}
		req.Updates = append(req.Updates, u)
	}
	if len(req.Updates) == 0 && len(req.Shallow) > 0 {
		return nil, fmt.Errorf("shallow lines without commands")
	}
	return req, nil
}

func parseUpdate(line []byte) (gate.RefUpdate, error) {
	f := strings.SplitN(string(line), " ", 3)
	if len(f) != 3 || !gate.IsObjectID(f[0]) || !gate.IsObjectID(f[1]) {
		return gate.RefUpdate{}, fmt.Errorf("bad command line %.80q", line)
	}
	if f[0] == gate.ZeroID && f[1] == gate.ZeroID {
		return gate.RefUpdate{}, fmt.Errorf("command for %.80q neither creates, updates nor deletes", f[2])
	}
	if err := gate.ValidRefName(f[2]); err != nil {
		return gate.RefUpdate{}, err
	}
	return gate.RefUpdate{Old: f[0], New: f[1], Ref: f[2]}, nil
}

// Encode renders the command section for the given updates (a subset of
// p's), with p's shallow lines and capabilities, ending with a flush-pkt.
func (p *PushRequest) Encode(updates []gate.RefUpdate) []byte {
	var b bytes.Buffer
	for _, s := range p.Shallow {
		b.Write(pktString("shallow " + s))
	}
	for i, u := range updates {
		line := u.Old + " " + u.New + " " + u.Ref
		if i == 0 && len(p.Caps) > 0 {
			line += "\x00" + strings.Join(p.Caps, " ")
		}
		b.Write(pktString(line + "\n"))
	}
	b.Write(flushPkt)
	return b.Bytes()
}

// Statuses is a report-status: the unpack result and one line per ref
// ("ok <ref>" or "ng <ref> <reason>", with report-status-v2's option lines
// after an ok).
type Statuses struct {
	Unpack string   // "ok" or the error
	Lines  []string // without the trailing newline
}

// parseReport reads a report-status pkt-line stream up to its flush-pkt.
func parseReport(r *bufio.Reader) (*Statuses, error) {
	line, err := readPkt(r)
	if err != nil {
		return nil, fmt.Errorf("report-status: %v", err)
	}
	u, ok := strings.CutPrefix(strings.TrimSuffix(string(line), "\n"), "unpack ")
	if !ok {
		return nil, fmt.Errorf("report-status: no unpack line")
	}
	st := &Statuses{Unpack: u}
	for {
		line, err := readPkt(r)
		if err == errFlush {
			return st, nil
		}
		if err != nil {
			return nil, fmt.Errorf("report-status: %v", err)
		}
		st.Lines = append(st.Lines, strings.TrimSuffix(string(line), "\n"))
	}
}

// Reason returns the status of ref in the report: "" for ok, the reason
// for ng, and "no status" when the report does not mention it.
func (s *Statuses) Reason(ref string) string {
	for _, l := range s.Lines {
		if l == "ok "+ref {
			return ""
		}
		if rest, ok := strings.CutPrefix(l, "ng "+ref+" "); ok {
			return rest
		}
	}
	return "no status"
}

// encode renders the report as pkt-lines ending with a flush-pkt.
func (s *Statuses) encode() []byte {
	var b bytes.Buffer
	b.Write(pktString("unpack " + s.Unpack + "\n"))
	for _, l := range s.Lines {
		b.Write(pktString(l + "\n"))
	}
	b.Write(flushPkt)
	return b.Bytes()
}

// sideband frames data on band (1 data, 2 progress, 3 fatal error), split
// into packets of at most max payload bytes.
func sideband(band byte, data []byte, max int) []byte {
	var b bytes.Buffer
	for len(data) > 0 {
		n := min(len(data), max-5)
		b.Write(pkt(append([]byte{band}, data[:n]...)))
		data = data[n:]
	}
	return b.Bytes()
}
