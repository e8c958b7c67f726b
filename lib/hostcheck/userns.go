package hostcheck

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// Files of subordinate ids.
const (
	SubUIDFile = "/etc/subuid"
	SubGIDFile = "/etc/subgid"
)

// autoOwner is the owner whose ranges Podman's userns=auto hands out.
const autoOwner = "containers"

// minSubIDs is the smallest range that holds a full 16-bit id space.
const minSubIDs = 65536

// containersLine is the line terok's setup writes for root.
const containersLine = "containers:2147483647:2147483648"

// SubIDRange is one line of /etc/subuid or /etc/subgid.
type SubIDRange struct {
	Owner        string // a user name or a uid
	Start, Count uint64
}

// ParseSubIDs parses a subuid/subgid file. Blank lines and # comments are
// skipped; any other malformed line is an error naming its number.
func ParseSubIDs(r io.Reader) ([]SubIDRange, error) {
	var out []SubIDRange
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || f[0] == "" {
			return nil, fmt.Errorf("line %d: not owner:start:count", n)
		}
		start, err1 := strconv.ParseUint(f[1], 10, 64)
		count, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("line %d: not owner:start:count", n)
		}
		out = append(out, SubIDRange{Owner: f[0], Start: start, Count: count})
	}
	return out, sc.Err()
}

// idsOf sums the ids granted to any of owners.
func idsOf(ranges []SubIDRange, owners ...string) uint64 {
	var n uint64
	for _, r := range ranges {
		for _, o := range owners {
			if r.Owner == o {
				n += r.Count
			}
		}
	}
	return n
}

// SubIDs is what one check needs of the two files.
type SubIDs struct {
	UID, GID []SubIDRange
}

// JudgeSubIDs decides the userns check: root needs a "containers" range in
// both files (for userns=auto), a user needs their own (by name or uid).
func JudgeSubIDs(uid int, name string, ids SubIDs) Result {
	r := Result{Check: "userns", Status: OK}
	owners, who := []string{autoOwner}, "containers (userns=auto)"
	if uid != 0 {
		owners, who = []string{name, strconv.Itoa(uid)}, "user "+name
	}
	nu, ng := idsOf(ids.UID, owners...), idsOf(ids.GID, owners...)
	switch {
	case nu == 0 || ng == 0:
		r.Status = Fail
		r.Detail = fmt.Sprintf("no subordinate ids for %s (%s: %d, %s: %d)", who, SubUIDFile, nu, SubGIDFile, ng)
		r.Fix = subIDFix(uid, name)
	case nu < minSubIDs || ng < minSubIDs:
		r.Status = Warn
		r.Detail = fmt.Sprintf("%s has fewer than %d subordinate ids (uids %d, gids %d)", who, minSubIDs, nu, ng)
		r.Fix = subIDFix(uid, name)
	default:
		r.Detail = fmt.Sprintf("%s: %d subordinate uids, %d gids", who, nu, ng)
	}
	return r
}

func subIDFix(uid int, name string) string {
	if uid == 0 {
		return fmt.Sprintf("echo %s >> %s; echo %s >> %s", containersLine, SubUIDFile, containersLine, SubGIDFile)
	}
	return fmt.Sprintf("as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", name)
}

// checkUserns reads the files and judges them; a user also needs the
// setuid newuidmap and newgidmap.
func checkUserns(uid int) Result {
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	var ids SubIDs
	for _, f := range []struct {
		path string
		dst  *[]SubIDRange
	}{{SubUIDFile, &ids.UID}, {SubGIDFile, &ids.GID}} {
		ranges, err := readSubIDs(f.path)
		if err != nil {
			return Result{Check: "userns", Status: Fail, Detail: f.path + ": " + err.Error(), Fix: subIDFix(uid, name)}
		}
		*f.dst = ranges
	}
	r := JudgeSubIDs(uid, name, ids)
	if uid != 0 && r.Status != Fail {
		for _, tool := range []string{"newuidmap", "newgidmap"} {
			if findBinary(tool) == "" {
				return Result{Check: "userns", Status: Fail, Detail: tool + " is not installed", Fix: "apt-get install -y uidmap (or dnf install -y shadow-utils)"}
			}
		}
	}
	return r
}

func readSubIDs(path string) ([]SubIDRange, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseSubIDs(f)
}
