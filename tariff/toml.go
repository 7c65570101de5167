package tariff

import (
	"errors"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// This file turns a TOML document into a small tree that remembers, for every
// key and array element, the line it is written on. go-toml's unstable parser
// gives the positions; the TOML table rules (headers, array tables, dotted
// keys, no key defined twice) are applied here so that a redefinition is
// reported with its line and loading goes on to find the other problems.

// nodeKind is the shape of a tree node.
type nodeKind int

const (
	nodeTable nodeKind = iota
	nodeArray
	nodeScalar
)

// tnode is one value of the document.
type tnode struct {
	kind nodeKind
	line int // line of the key, header or array element that introduced it

	// scalar
	scalar unstable.Kind
	data   string

	// table: keys in document order
	keys     []string
	fields   map[string]*tnode
	inline   bool // inline tables and arrays are closed: nothing may extend them
	explicit bool // defined by a [header] or a key; an intermediate table is not
	dotted   bool // created by a dotted key

	// array
	elems      []*tnode
	arrayTable bool // built by [[header]]
}

func newTable(line int) *tnode {
	return &tnode{kind: nodeTable, line: line, fields: map[string]*tnode{}}
}

func (t *tnode) set(key string, v *tnode) {
	t.keys = append(t.keys, key)
	t.fields[key] = v
}

// typeName names the TOML type of n for messages.
func (n *tnode) typeName() string {
	switch n.kind {
	case nodeTable:
		return "table"
	case nodeArray:
		if n.arrayTable {
			return "array of tables"
		}
		return "array"
	}
	switch n.scalar {
	case unstable.String:
		return "string"
	case unstable.Bool:
		return "boolean"
	case unstable.Float:
		return "float"
	case unstable.Integer:
		return "integer"
	case unstable.LocalDate:
		return "date"
	case unstable.LocalTime:
		return "time"
	case unstable.LocalDateTime, unstable.DateTime:
		return "date-time"
	}
	return "value"
}

// aTypeName is typeName with its article: "an integer", "a string".
func (n *tnode) aTypeName() string {
	name := n.typeName()
	if strings.IndexByte("aeiou", name[0]) >= 0 {
		return "an " + name
	}
	return "a " + name
}

// maxDepth bounds nesting of arrays and inline tables; schema 1 needs three.
const maxDepth = 16

// lineIndex maps byte offsets to 1-based line numbers.
type lineIndex []int // offsets of '\n'

func newLineIndex(data []byte) lineIndex {
	var idx lineIndex
	for i, c := range data {
		if c == '\n' {
			idx = append(idx, i)
		}
	}
	return idx
}

// line returns the line of byte offset off: one more than the number of
// newlines before it.
func (li lineIndex) line(off int) int {
	return sort.SearchInts(li, off) + 1
}

// treeBuilder applies the TOML table rules while it reads expressions.
type treeBuilder struct {
	p     *unstable.Parser
	data  []byte
	lines lineIndex
	errs  *errorSink
	root  *tnode
	cur   *tnode
}

// parseTree reads data into a tree. A syntax error stops the reading (the
// parser cannot resynchronize) and is the only error reported; rule errors
// (a key defined twice) are reported and reading goes on.
func parseTree(data []byte, errs *errorSink) (*tnode, bool) {
	b := &treeBuilder{p: &unstable.Parser{}, data: data, lines: newLineIndex(data), errs: errs}
	b.root = newTable(1)
	b.root.explicit = true
	b.cur = b.root
	b.p.Reset(data)
	for b.p.NextExpression() {
		b.expression(b.p.Expression())
	}
	if err := b.p.Error(); err != nil {
		line := 1
		var perr *unstable.ParserError
		if errors.As(err, &perr) {
			line = b.lineOfSlice(perr.Highlight)
		}
		errs.add(line, "TOML syntax: %s", err.Error())
		return nil, false
	}
	return b.root, true
}

// lineOfSlice returns the line of a subslice of the input.
func (b *treeBuilder) lineOfSlice(s []byte) int {
	off := cap(b.data) - cap(s)
	if s == nil || off < 0 || off > len(b.data) {
		return 1
	}
	return b.lines.line(off)
}

func (b *treeBuilder) lineOf(n *unstable.Node) int {
	if n.Raw.Length == 0 && n.Raw.Offset == 0 {
		return 0
	}
	return b.lines.line(int(n.Raw.Offset))
}

// keyParts returns the parts of a key and the line of its first part.
func (b *treeBuilder) keyParts(n *unstable.Node) ([]string, int) {
	var parts []string
	line := 0
	it := n.Key()
	for it.Next() {
		k := it.Node()
		if line == 0 {
			line = b.lineOf(k)
		}
		parts = append(parts, string(k.Data))
	}
	if line == 0 {
		line = 1
	}
	return parts, line
}

func (b *treeBuilder) expression(n *unstable.Node) {
	switch n.Kind {
	case unstable.KeyValue:
		b.keyValue(b.cur, n, 0)
	case unstable.Table:
		parts, line := b.keyParts(n)
		if t := b.header(parts, line, false); t != nil {
			b.cur = t
		} else {
			b.cur = newTable(line) // detached: its keys are still checked for syntax only
		}
	case unstable.ArrayTable:
		parts, line := b.keyParts(n)
		if t := b.header(parts, line, true); t != nil {
			b.cur = t
		} else {
			b.cur = newTable(line)
		}
	}
}

// descend walks the intermediate parts of a header or dotted key from t,
// creating tables that do not exist yet. It returns nil after reporting a
// conflict.
func (b *treeBuilder) descend(t *tnode, parts []string, line int, dotted bool) *tnode {
	for i, p := range parts {
		next, ok := t.fields[p]
		if !ok {
			nt := newTable(line)
			nt.dotted = dotted
			t.set(p, nt)
			t = nt
			continue
		}
		switch {
		case next.kind == nodeTable && !next.inline:
			t = next
		case next.kind == nodeArray && next.arrayTable && !dotted:
			t = next.elems[len(next.elems)-1]
		default:
			b.errs.add(line, "key %q is already defined as %s on line %d", strings.Join(parts[:i+1], "."), next.aTypeName(), next.line)
			return nil
		}
	}
	return t
}

// header handles [a.b] and [[a.b]].
func (b *treeBuilder) header(parts []string, line int, array bool) *tnode {
	parent := b.descend(b.root, parts[:len(parts)-1], line, false)
	if parent == nil {
		return nil
	}
	last := parts[len(parts)-1]
	name := strings.Join(parts, ".")
	existing, ok := parent.fields[last]
	if array {
		t := newTable(line)
		t.explicit = true
		switch {
		case !ok:
			parent.set(last, &tnode{kind: nodeArray, line: line, arrayTable: true, elems: []*tnode{t}})
		case existing.kind == nodeArray && existing.arrayTable:
			existing.elems = append(existing.elems, t)
		default:
			b.errs.add(line, "[[%s]]: key %q is already defined as %s on line %d", name, name, existing.aTypeName(), existing.line)
			return nil
		}
		return t
	}
	if !ok {
		t := newTable(line)
		t.explicit = true
		parent.set(last, t)
		return t
	}
	if existing.kind == nodeTable && !existing.inline && !existing.explicit && !existing.dotted {
		existing.explicit = true
		existing.line = line
		return existing
	}
	b.errs.add(line, "[%s]: key %q is already defined as %s on line %d", name, name, existing.aTypeName(), existing.line)
	return nil
}

// keyValue handles key = value inside table t.
func (b *treeBuilder) keyValue(t *tnode, n *unstable.Node, depth int) {
	parts, line := b.keyParts(n)
	parent := b.descend(t, parts[:len(parts)-1], line, true)
	if parent == nil {
		return
	}
	last := parts[len(parts)-1]
	if prev, dup := parent.fields[last]; dup {
		b.errs.add(line, "key %q is defined twice (first on line %d)", strings.Join(parts, "."), prev.line)
		return
	}
	v := b.value(n.Value(), line, depth)
	if v == nil {
		return
	}
	parent.set(last, v)
}

// value converts a value node; line is the line of its key.
func (b *treeBuilder) value(n *unstable.Node, line int, depth int) *tnode {
	if l := b.lineOf(n); l > 0 && n.Kind != unstable.InlineTable && n.Kind != unstable.Array {
		line = l
	}
	if depth > maxDepth {
		b.errs.add(line, "value nested more than %d levels deep", maxDepth)
		return nil
	}
	switch n.Kind {
	case unstable.Array:
		arr := &tnode{kind: nodeArray, line: line}
		it := n.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			if v := b.value(c, line, depth+1); v != nil {
				arr.elems = append(arr.elems, v)
			}
		}
		return arr
	case unstable.InlineTable:
		t := newTable(line)
		t.inline, t.explicit = true, true
		it := n.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind != unstable.KeyValue {
				continue
			}
			b.keyValue(t, c, depth+1)
		}
		return t
	}
	return &tnode{kind: nodeScalar, line: line, scalar: n.Kind, data: string(n.Data)}
}
