package tariff

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2/unstable"
	"github.com/shopspring/decimal"
)

// This file reads typed values out of the tree built by toml.go. Every getter
// marks its key as used, reports a wrong type or a bad value with the key's
// line, and tells the caller whether the value is usable; finish reports the
// keys nobody asked for. Nothing here stops at the first problem.

// fields reads the keys of one table.
type fields struct {
	errs *errorSink
	t    *tnode
	what string // names the table in messages: `venue "mucem"`; empty at the top level
	used map[string]bool
}

func newFields(errs *errorSink, t *tnode, what string) *fields {
	return &fields{errs: errs, t: t, what: what, used: map[string]bool{}}
}

func (f *fields) errf(line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if f.what != "" {
		msg = f.what + ": " + msg
	}
	f.errs.add(line, "%s", msg)
}

// node returns the value of key (nil when absent) and marks it used.
func (f *fields) node(key string) *tnode {
	f.used[key] = true
	return f.t.fields[key]
}

// missing reports a required key that is absent, at the table's line.
func (f *fields) missing(key string) {
	f.errf(f.t.line, "missing required key %q", key)
}

// finish reports every key of the table that no getter asked for.
func (f *fields) finish() {
	for _, k := range f.t.keys {
		if !f.used[k] {
			f.errf(f.t.fields[k].line, "unknown key %q", k)
		}
	}
}

func (f *fields) wrongType(key string, n *tnode, want string) {
	f.errf(n.line, "%s: want %s, got %s", key, want, n.aTypeName())
}

// str returns a string value. ok is false when the key is absent or wrong.
func (f *fields) str(key string, required bool) (s string, line int, ok bool) {
	n := f.node(key)
	if n == nil {
		if required {
			f.missing(key)
		}
		return "", f.t.line, false
	}
	if n.kind != nodeScalar || n.scalar != unstable.String {
		f.wrongType(key, n, "a string")
		return "", n.line, false
	}
	return n.data, n.line, true
}

// text returns a free-text string value within CheckText's limits (at
// most max characters).
func (f *fields) text(key string, required bool, max int) (string, int, bool) {
	s, line, ok := f.str(key, required)
	if !ok {
		return "", line, false
	}
	if err := CheckText(key, s, max); err != nil {
		f.errf(line, "%s: %v", key, err)
		return "", line, false
	}
	return s, line, true
}

// ident returns an id-shaped string value.
func (f *fields) ident(key string, required bool) (string, int, bool) {
	s, line, ok := f.str(key, required)
	if !ok {
		return "", line, false
	}
	if err := CheckIdent(s); err != nil {
		f.errf(line, "%s: %v", key, err)
		return "", line, false
	}
	return s, line, true
}

// integer returns an integer value.
func (f *fields) integer(key string, required bool) (int64, int, bool) {
	n := f.node(key)
	if n == nil {
		if required {
			f.missing(key)
		}
		return 0, f.t.line, false
	}
	if n.kind != nodeScalar || n.scalar != unstable.Integer {
		f.wrongType(key, n, "an integer")
		return 0, n.line, false
	}
	v, err := parseTOMLInt(n.data)
	if err != nil {
		f.errf(n.line, "%s: %v", key, err)
		return 0, n.line, false
	}
	return v, n.line, true
}

// parseTOMLInt reads a TOML integer literal: decimal with optional sign and
// underscores, or 0x / 0o / 0b.
func parseTOMLInt(raw string) (int64, error) {
	s := strings.ReplaceAll(raw, "_", "")
	base := 10
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x':
			base, s = 16, s[2:]
		case 'o':
			base, s = 8, s[2:]
		case 'b':
			base, s = 2, s[2:]
		}
	}
	v, err := strconv.ParseInt(s, base, 64)
	if err != nil {
		return 0, fmt.Errorf("integer %s out of range", raw)
	}
	return v, nil
}

// decimalValue returns a decimal written as a string ("32.00") or an integer
// (32). Floats are refused: money is never binary floating point.
func (f *fields) decimalValue(key string, n *tnode) (decimal.Decimal, string, bool) {
	if n.kind == nodeScalar {
		switch n.scalar {
		case unstable.String:
			d, err := parseDecimal(n.data)
			if err != nil {
				f.errf(n.line, "%s: %v", key, err)
				return decimal.Decimal{}, "", false
			}
			return d, n.data, true
		case unstable.Integer:
			v, err := parseTOMLInt(n.data)
			if err != nil {
				f.errf(n.line, "%s: %v", key, err)
				return decimal.Decimal{}, "", false
			}
			return decimal.NewFromInt(v), strconv.FormatInt(v, 10), true
		case unstable.Float:
			f.errf(n.line, "%s: write decimals as a string (%s = \"%s\"), never as a float", key, key, n.data)
			return decimal.Decimal{}, "", false
		}
	}
	f.wrongType(key, n, `a decimal string like "12.50"`)
	return decimal.Decimal{}, "", false
}

// moneyAt checks an amount already read: not negative, at most 2 places.
func (f *fields) moneyNode(key string, n *tnode) (decimal.Decimal, bool) {
	d, text, ok := f.decimalValue(key, n)
	if !ok {
		return decimal.Decimal{}, false
	}
	good := true
	if decimalPlaces(text) > moneyPlaces {
		f.errf(n.line, "%s: amount %q has more than %d decimal places", key, text, moneyPlaces)
		good = false
	}
	if d.IsNegative() {
		f.errf(n.line, "%s: amount %q is negative", key, text)
		good = false
	}
	if d.GreaterThan(MaxAmount) {
		f.errf(n.line, "%s: amount %q is above the largest amount, %s", key, text, MaxAmount.StringFixed(moneyPlaces))
		good = false
	}
	return d, good
}

// money returns an amount: non-negative, at most 2 decimal places.
func (f *fields) money(key string, required bool) (decimal.Decimal, int, bool) {
	n := f.node(key)
	if n == nil {
		if required {
			f.missing(key)
		}
		return decimal.Decimal{}, f.t.line, false
	}
	d, ok := f.moneyNode(key, n)
	return d, n.line, ok
}

// percent returns a percentage between 0 and 100.
func (f *fields) percent(key string, required bool) (decimal.Decimal, int, bool) {
	n := f.node(key)
	if n == nil {
		if required {
			f.missing(key)
		}
		return decimal.Decimal{}, f.t.line, false
	}
	d, text, ok := f.decimalValue(key, n)
	if !ok {
		return decimal.Decimal{}, n.line, false
	}
	if d.IsNegative() {
		f.errf(n.line, "%s: percent %q is negative", key, text)
		return decimal.Decimal{}, n.line, false
	}
	if d.GreaterThan(decimal.NewFromInt(100)) {
		f.errf(n.line, "%s: percent %q is above 100", key, text)
		return decimal.Decimal{}, n.line, false
	}
	return d, n.line, true
}

// enum returns a string value that must be one of allowed; def is used when
// the key is absent and not required.
func (f *fields) enum(key string, required bool, def string, allowed ...string) (string, int, bool) {
	s, line, ok := f.str(key, required)
	if !ok {
		if f.t.fields[key] == nil && !required {
			return def, line, true
		}
		return "", line, false
	}
	for _, a := range allowed {
		if s == a {
			return s, line, true
		}
	}
	f.errf(line, "%s: %q is not one of %s", key, s, strings.Join(allowed, " | "))
	return "", line, false
}

// duration returns a positive ParseDuration value.
func (f *fields) duration(key string, required bool) (time.Duration, int, bool) {
	s, line, ok := f.str(key, required)
	if !ok {
		return 0, line, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		f.errf(line, "%s: %v", key, err)
		return 0, line, false
	}
	if d <= 0 {
		f.errf(line, "%s: duration %q must be positive", key, s)
		return 0, line, false
	}
	if d > MaxDuration {
		f.errf(line, "%s: duration %q is longer than %d days", key, s, MaxDuration/(24*time.Hour))
		return 0, line, false
	}
	return d, line, true
}

// strElem is one string of an array, with its line.
type strElem struct {
	s    string
	line int
}

// strList returns an array of strings; absent is an empty list.
func (f *fields) strList(key string) ([]strElem, int, bool) {
	n := f.node(key)
	if n == nil {
		return nil, f.t.line, true
	}
	if n.kind != nodeArray || n.arrayTable {
		f.wrongType(key, n, "an array of strings")
		return nil, n.line, false
	}
	out := make([]strElem, 0, len(n.elems))
	ok := true
	for _, e := range n.elems {
		if e.kind != nodeScalar || e.scalar != unstable.String {
			f.errf(e.line, "%s: want an array of strings, found %s", key, e.aTypeName())
			ok = false
			continue
		}
		out = append(out, strElem{e.data, e.line})
	}
	return out, n.line, ok
}

// tables returns an array of tables ([[key]] or key = [{…}, …]).
func (f *fields) tables(key string) []*tnode {
	n := f.node(key)
	if n == nil {
		return nil
	}
	if n.kind != nodeArray {
		f.wrongType(key, n, fmt.Sprintf("an array of tables ([[%s]])", key))
		return nil
	}
	out := make([]*tnode, 0, len(n.elems))
	for _, e := range n.elems {
		if e.kind != nodeTable {
			f.errf(e.line, "%s: want an array of tables ([[%s]]), found %s", key, key, e.aTypeName())
			continue
		}
		out = append(out, e)
	}
	return out
}

// table returns a table value (inline or [header]).
func (f *fields) table(key string, required bool) *tnode {
	n := f.node(key)
	if n == nil {
		if required {
			f.missing(key)
		}
		return nil
	}
	if n.kind != nodeTable {
		f.wrongType(key, n, "a table")
		return nil
	}
	return n
}
