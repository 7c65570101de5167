package stmtfile

import (
	"math"
	"time"
)

// rfc3339Clock formats instants as RFC 3339 (seconds, as time.RFC3339) in one
// location, the way Time.In(loc).AppendFormat(b, time.RFC3339) does, but
// without a zone lookup and calendar computation per call: it keeps the
// window of instants that share the current local date and zone offset, so
// an instant inside it costs a subtraction and six digits. Statement lines
// format one instant each, in nearly increasing order.
type rfc3339Clock struct {
	loc      *time.Location
	lo, hi   int64 // the window [lo, hi) in Unix seconds
	midnight int64 // local midnight of the window's date, in its offset
	prefix   []byte
	suffix   []byte
}

func newRFC3339Clock(loc *time.Location) *rfc3339Clock {
	return &rfc3339Clock{loc: loc, lo: 1, hi: 0}
}

// append appends t formatted in the clock's location.
func (c *rfc3339Clock) append(b []byte, t time.Time) []byte {
	s := t.Unix()
	if s < c.lo || s >= c.hi {
		if !c.fill(t) {
			return t.In(c.loc).AppendFormat(b, time.RFC3339)
		}
	}
	d := s - c.midnight
	h, m, sec := d/3600, d/60%60, d%60
	b = append(b, c.prefix...)
	b = append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+sec/10), byte('0'+sec%10))
	return append(b, c.suffix...)
}

// fill sets the window around t; false when t is outside what the fast
// path handles (years outside 0000-9999, which AppendFormat writes
// differently).
func (c *rfc3339Clock) fill(t time.Time) bool {
	lt := t.In(c.loc)
	if y := lt.Year(); y < 0 || y > 9999 {
		return false
	}
	s := t.Unix()
	c.midnight = s - int64(lt.Hour()*3600+lt.Minute()*60+lt.Second())
	c.lo, c.hi = c.midnight, c.midnight+86400
	start, end := lt.ZoneBounds()
	if !start.IsZero() && start.Unix() > c.lo {
		c.lo = start.Unix()
	}
	if end.IsZero() {
		end = time.Unix(math.MaxInt64/2, 0)
	}
	if end.Unix() < c.hi {
		c.hi = end.Unix()
	}
	// The date part and the offset, as AppendFormat writes them.
	full := lt.AppendFormat(c.prefix[:0], time.RFC3339) // 2006-01-02T15:04:05Z07:00
	c.prefix = append(c.prefix[:0], full[:11]...)
	c.suffix = append(c.suffix[:0], full[19:]...)
	return true
}
