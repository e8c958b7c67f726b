package schedule

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Calendar is a parsed systemd OnCalendar expression (systemd.time(7)),
// kept as the set of values each field may take: the expression
// `[DOW] [[Y-]M-D] [H:M[:S]]` with `*`, lists (a,b), ranges (a..b) and
// repetitions (a/step, a..b/step), or one of the shorthands (minutely,
// hourly, daily, weekly, monthly, quarterly, semiannually, yearly,
// annually). Time zones, `~` (days from the month's end), fractional
// seconds and @epoch are refused.
type Calendar struct {
	Spec string // as given
	// Each field's allowed values as a bit set: bit v set when v matches.
	dow                  uint64 // 0 Monday .. 6 Sunday
	year                 [4]uint64
	month, day           uint64 // 1..12, 1..31
	hour, minute, second uint64
}

// Field ranges.
const (
	minYear, maxYear = 1970, 2199
	allDOW           = 1<<7 - 1
)

var shorthands = map[string]string{
	"minutely":     "*-*-* *:*:00",
	"hourly":       "*-*-* *:00:00",
	"daily":        "*-*-* 00:00:00",
	"weekly":       "Mon *-*-* 00:00:00",
	"monthly":      "*-*-01 00:00:00",
	"quarterly":    "*-01,04,07,10-01 00:00:00",
	"semiannually": "*-01,07-01 00:00:00",
	"yearly":       "*-01-01 00:00:00",
	"annually":     "*-01-01 00:00:00",
}

var dayNames = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

// ParseCalendar parses an OnCalendar expression; its error says what is
// wrong in one line.
func ParseCalendar(spec string) (*Calendar, error) {
	c := &Calendar{Spec: spec}
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, fmt.Errorf("calendar: empty expression")
	}
	if long, ok := shorthands[strings.ToLower(s)]; ok {
		s = long
	}
	if strings.ContainsAny(s, "~@%") {
		return nil, fmt.Errorf("calendar %q: '~', '@' and '%%' are not supported", spec)
	}
	toks := strings.Fields(s)
	c.dow = allDOW
	c.setAll()
	c.hour, c.minute, c.second = 1, 1, 1 // 00:00:00 when no time is given
	i := 0
	if i < len(toks) && isLetter(toks[i][0]) {
		d, err := parseDOW(toks[i])
		if err != nil {
			return nil, fmt.Errorf("calendar %q: %v", spec, err)
		}
		c.dow, i = d, i+1
	}
	if i < len(toks) && strings.Contains(toks[i], "-") && !strings.Contains(toks[i], ":") {
		if err := c.parseDate(toks[i]); err != nil {
			return nil, fmt.Errorf("calendar %q: %v", spec, err)
		}
		i++
	}
	if i < len(toks) && strings.Contains(toks[i], ":") {
		if err := c.parseTime(toks[i]); err != nil {
			return nil, fmt.Errorf("calendar %q: %v", spec, err)
		}
		i++
	}
	if i < len(toks) {
		if isLetter(toks[i][0]) {
			return nil, fmt.Errorf("calendar %q: time zones (%s) are not supported; the host's local time is used", spec, toks[i])
		}
		return nil, fmt.Errorf("calendar %q: unexpected %q (the form is [DOW] [Y-M-D] [H:M[:S]])", spec, toks[i])
	}
	if i == 0 {
		return nil, fmt.Errorf("calendar %q: nothing to parse", spec)
	}
	return c, nil
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

func (c *Calendar) setAll() {
	for y := minYear; y <= maxYear; y++ {
		c.year[(y-minYear)/64] |= 1 << ((y - minYear) % 64)
	}
	c.month = rangeBits(1, 12, 1)
	c.day = rangeBits(1, 31, 1)
}

func rangeBits(lo, hi, step int) uint64 {
	var b uint64
	for v := lo; v <= hi; v += step {
		b |= 1 << v
	}
	return b
}

// parseDOW parses a day-of-week list: names (Mon or Monday, any case),
// ranges a..b or a-b.
func parseDOW(tok string) (uint64, error) {
	var set uint64
	for _, item := range strings.Split(tok, ",") {
		lo, hi, ok := strings.Cut(item, "..")
		if !ok {
			lo, hi, ok = strings.Cut(item, "-")
		}
		a, err := dayIndex(lo)
		if err != nil {
			return 0, err
		}
		b := a
		if ok {
			if b, err = dayIndex(hi); err != nil {
				return 0, err
			}
		}
		if b < a {
			return 0, fmt.Errorf("day range %q runs backwards", item)
		}
		set |= rangeBits(a, b, 1)
	}
	return set, nil
}

func dayIndex(s string) (int, error) {
	l := strings.ToLower(s)
	for i, n := range dayNames {
		if l == n || l == n[:3] {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not a day of the week", s)
}

func (c *Calendar) parseDate(tok string) error {
	parts := strings.Split(tok, "-")
	switch len(parts) {
	case 2:
		parts = append([]string{"*"}, parts...)
	case 3:
	default:
		return fmt.Errorf("date %q is not Y-M-D or M-D", tok)
	}
	var err error
	if c.year, err = parseYears(parts[0]); err != nil {
		return err
	}
	if c.month, err = parseChain(parts[1], "month", 1, 12); err != nil {
		return err
	}
	c.day, err = parseChain(parts[2], "day", 1, 31)
	return err
}

func (c *Calendar) parseTime(tok string) error {
	parts := strings.Split(tok, ":")
	switch len(parts) {
	case 2:
		parts = append(parts, "00")
	case 3:
	default:
		return fmt.Errorf("time %q is not H:M or H:M:S", tok)
	}
	if strings.Contains(parts[2], ".") {
		return fmt.Errorf("fractional seconds (%s) are not supported", parts[2])
	}
	var err error
	if c.hour, err = parseChain(parts[0], "hour", 0, 23); err != nil {
		return err
	}
	if c.minute, err = parseChain(parts[1], "minute", 0, 59); err != nil {
		return err
	}
	c.second, err = parseChain(parts[2], "second", 0, 59)
	return err
}

// parseChain parses one field: *, or a comma-separated list of v, a..b,
// v/step and a..b/step (v/step repeats up to the field's maximum).
func parseChain(s, what string, lo, hi int) (uint64, error) {
	if s == "*" {
		return rangeBits(lo, hi, 1), nil
	}
	var set uint64
	for _, item := range strings.Split(s, ",") {
		a, b, step, err := parseItem(item, what, lo, hi)
		if err != nil {
			return 0, err
		}
		set |= rangeBits(a, b, step)
	}
	return set, nil
}

func parseItem(item, what string, lo, hi int) (a, b, step int, err error) {
	r, st, hasStep := strings.Cut(item, "/")
	from, to, isRange := strings.Cut(r, "..")
	if a, err = number(from, what, lo, hi); err != nil {
		return
	}
	b = a
	switch {
	case isRange:
		if b, err = number(to, what, lo, hi); err != nil {
			return
		}
		if b < a {
			err = fmt.Errorf("%s range %q runs backwards", what, item)
			return
		}
	case hasStep:
		b = hi
	}
	step = 1
	if hasStep {
		if step, err = strconv.Atoi(st); err != nil || step < 1 {
			err = fmt.Errorf("%s repetition %q is not a positive number", what, item)
			return
		}
	}
	return
}

func number(s, what string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("%s %q is not a number (or *)", what, s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s %d is out of range %d..%d", what, n, lo, hi)
	}
	return n, nil
}

func parseYears(s string) ([4]uint64, error) {
	var set [4]uint64
	if s == "*" {
		for y := minYear; y <= maxYear; y++ {
			set[(y-minYear)/64] |= 1 << ((y - minYear) % 64)
		}
		return set, nil
	}
	for _, item := range strings.Split(s, ",") {
		a, b, step, err := parseItem(item, "year", minYear, maxYear)
		if err != nil {
			return set, err
		}
		for y := a; y <= b; y += step {
			set[(y-minYear)/64] |= 1 << ((y - minYear) % 64)
		}
	}
	return set, nil
}

func (c *Calendar) hasYear(y int) bool {
	if y < minYear || y > maxYear {
		return false
	}
	return c.year[(y-minYear)/64]&(1<<((y-minYear)%64)) != 0
}

func (c *Calendar) allYears() bool {
	for y := minYear; y <= maxYear; y++ {
		if !c.hasYear(y) {
			return false
		}
	}
	return true
}

// dowIndex is t's day of the week, Monday 0.
func dowIndex(t time.Time) int { return (int(t.Weekday()) + 6) % 7 }

// Next returns the first time after t that the calendar matches, in t's
// location, and false when there is none before the year 2200.
func (c *Calendar) Next(t time.Time) (time.Time, bool) {
	loc := t.Location()
	t = t.Truncate(time.Second)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	for ; day.Year() <= maxYear; day = day.AddDate(0, 0, 1) {
		if !c.hasYear(day.Year()) || c.month&(1<<int(day.Month())) == 0 ||
			c.day&(1<<day.Day()) == 0 || c.dow&(1<<dowIndex(day)) == 0 {
			continue
		}
		for h := 0; h < 24; h++ {
			if c.hour&(1<<h) == 0 {
				continue
			}
			for m := 0; m < 60; m++ {
				if c.minute&(1<<m) == 0 {
					continue
				}
				for s := 0; s < 60; s++ {
					if c.second&(1<<s) == 0 {
						continue
					}
					n := time.Date(day.Year(), day.Month(), day.Day(), h, m, s, 0, loc)
					if n.After(t) && n.Day() == day.Day() {
						return n, true
					}
				}
			}
		}
	}
	return time.Time{}, false
}

// Cron returns the five crontab fields (minute hour day-of-month month
// day-of-week) that fire exactly when the calendar does, or an error that
// says in one line why cron cannot express it.
func (c *Calendar) Cron() (string, error) {
	switch {
	case c.second != 1:
		return "", fmt.Errorf("calendar %q fires at seconds other than :00; cron's resolution is a minute", c.Spec)
	case !c.allYears():
		return "", fmt.Errorf("calendar %q names years; cron has no year field", c.Spec)
	case c.dow != allDOW && c.day != rangeBits(1, 31, 1):
		return "", fmt.Errorf("calendar %q restricts both the day of the month and the day of the week; cron fires when either matches, systemd when both do", c.Spec)
	}
	// cron counts days of the week from Sunday (0).
	var dow uint64
	for i := range 7 {
		if c.dow&(1<<i) != 0 {
			dow |= 1 << ((i + 1) % 7)
		}
	}
	return strings.Join([]string{
		cronField(c.minute, 0, 59), cronField(c.hour, 0, 23), cronField(c.day, 1, 31),
		cronField(c.month, 1, 12), cronField(dow, 0, 6),
	}, " "), nil
}

// cronField renders a set: *, */step or a-b/step for a regular repetition
// that runs to the end, else a list of values and ranges.
func cronField(set uint64, lo, hi int) string {
	full := rangeBits(lo, hi, 1)
	if set == full {
		return "*"
	}
	vals := members(set, lo, hi)
	if n := len(vals); n > 2 {
		step := vals[1] - vals[0]
		regular := step > 1
		for i := 2; i < n && regular; i++ {
			regular = vals[i]-vals[i-1] == step
		}
		if regular && vals[n-1]+step > hi {
			if vals[0] == lo {
				return "*/" + strconv.Itoa(step)
			}
			return fmt.Sprintf("%d-%d/%d", vals[0], hi, step)
		}
	}
	var out []string
	for i := 0; i < len(vals); {
		j := i
		for j+1 < len(vals) && vals[j+1] == vals[j]+1 {
			j++
		}
		switch j {
		case i:
			out = append(out, strconv.Itoa(vals[i]))
		case i + 1:
			out = append(out, strconv.Itoa(vals[i]), strconv.Itoa(vals[j]))
		default:
			out = append(out, fmt.Sprintf("%d-%d", vals[i], vals[j]))
		}
		i = j + 1
	}
	return strings.Join(out, ",")
}

func members(set uint64, lo, hi int) []int {
	out := make([]int, 0, bits.OnesCount64(set))
	for v := lo; v <= hi; v++ {
		if set&(1<<v) != 0 {
			out = append(out, v)
		}
	}
	return out
}
