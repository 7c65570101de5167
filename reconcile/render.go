package reconcile

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Kind is how a column's cells (or a fact's value) are typed: in JSON a
// Count is a number and Money a string with 2 places; in csv-fr Money has
// a decimal comma.
type Kind int

// Kinds of cells.
const (
	Text  Kind = iota // a string
	Count             // an integer
	Money             // an amount with 2 places, "1234.50"
	Bool              // "true" or "false"
)

// Column is a table column: its name and the kind of its cells.
type Column struct {
	Name string
	Kind Kind
}

// Fact is a named value about a whole table (a count of postings, a payout
// id): a key of the JSON object beside rows and totals, a line in the
// other formats.
type Fact struct {
	Name  string
	Kind  Kind
	Value string
}

// Table is the printable form of every report and result: a title, typed
// columns, rows of cells (amounts already formatted with 2 places), the
// totals apart from the rows, facts and notes. Render prints it for people
// or tools.
type Table struct {
	Title   string
	Columns []Column
	Rows    [][]string
	Totals  []string // same width as Columns; nil when none. Never among the rows.
	Facts   []Fact
	Notes   []string // e.g. warnings; printed after the table
}

// Tabler is implemented by every report and result.
type Tabler interface{ Table() Table }

// Format is an output format of Render.
type Format string

// Formats.
const (
	FormatTable Format = "table"  // aligned columns for people; totals under a rule
	FormatCSV   Format = "csv"    // RFC 4180: a header and the data rows only
	FormatCSVFr Format = "csv-fr" // for French spreadsheets: UTF-8 with BOM, ";", decimal comma
	FormatJSON  Format = "json"   // {"title","columns","rows":[{…}],"totals":{…},<facts>,"notes"}
)

// ParseFormat reads a format name; "" is FormatTable.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", FormatTable:
		return FormatTable, nil
	case FormatCSV, FormatCSVFr, FormatJSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("reconcile: format %q: want table, csv, csv-fr or json", s)
}

// reservedKeys are the JSON keys of every table; a fact may not take one.
var reservedKeys = map[string]bool{"title": true, "columns": true, "rows": true, "totals": true, "notes": true}

// Render prints a report in a format. CSV formats hold the data rows only,
// so that a spreadsheet's sum over a column is the total; RenderTotals
// prints the totals the same way.
func Render(w io.Writer, r Tabler, f Format) error {
	t := r.Table()
	switch f {
	case FormatCSV, FormatCSVFr:
		return renderCSV(w, t, t.Rows, f)
	case FormatJSON:
		return renderJSON(w, t)
	case FormatTable, "":
		return renderText(w, t)
	}
	return fmt.Errorf("reconcile: unknown format %q", f)
}

// RenderTotals prints a report's totals alone: in CSV formats the header
// and the totals row; otherwise as Render (whose output has them apart).
func RenderTotals(w io.Writer, r Tabler, f Format) error {
	t := r.Table()
	switch f {
	case FormatCSV, FormatCSVFr:
		var rows [][]string
		if t.Totals != nil {
			rows = [][]string{t.Totals}
		}
		return renderCSV(w, t, rows, f)
	}
	return Render(w, r, f)
}

func renderCSV(w io.Writer, t Table, rows [][]string, f Format) error {
	cw := csv.NewWriter(w)
	if f == FormatCSVFr {
		if _, err := io.WriteString(w, "\ufeff"); err != nil {
			return err
		}
		cw.Comma = ';'
	}
	header := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c.Name
	}
	_ = cw.Write(header)
	rec := make([]string, len(t.Columns))
	for _, r := range rows {
		for i := range rec {
			rec[i] = ""
			if i < len(r) {
				rec[i] = r[i]
				if f == FormatCSVFr && t.Columns[i].Kind == Money {
					rec[i] = strings.Replace(r[i], ".", ",", 1)
				}
			}
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// jsonValue writes a cell as its kind says: a Count as a number (null when
// empty or not an integer), a Bool as true or false, anything else as a
// string.
func jsonValue(b *bytes.Buffer, k Kind, v string) {
	if k == Bool && (v == "true" || v == "false") {
		b.WriteString(v)
		return
	}
	if k == Count {
		if v == "" || !isInteger(v) {
			b.WriteString("null")
			return
		}
		b.WriteString(v)
		return
	}
	s, _ := json.Marshal(v)
	b.Write(s)
}

func isInteger(s string) bool {
	for i, c := range s {
		if !(c >= '0' && c <= '9' || c == '-' && i == 0 && len(s) > 1) {
			return false
		}
	}
	return s != ""
}

func renderJSON(w io.Writer, t Table) error {
	var b bytes.Buffer
	key := func(k string) {
		s, _ := json.Marshal(k)
		b.Write(s)
		b.WriteString(": ")
	}
	object := func(indent string, row []string) {
		b.WriteString("{")
		for i, c := range t.Columns {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n" + indent + "  ")
			key(c.Name)
			v := ""
			if i < len(row) {
				v = row[i]
			}
			jsonValue(&b, c.Kind, v)
		}
		b.WriteString("\n" + indent + "}")
	}
	b.WriteString("{\n  ")
	key("title")
	s, _ := json.Marshal(t.Title)
	b.Write(s)
	b.WriteString(",\n  ")
	key("columns")
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	s, _ = json.Marshal(names)
	b.Write(s)
	b.WriteString(",\n  ")
	key("rows")
	b.WriteString("[")
	for i, r := range t.Rows {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    ")
		object("    ", r)
	}
	if len(t.Rows) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("]")
	if t.Totals != nil {
		b.WriteString(",\n  ")
		key("totals")
		object("  ", t.Totals)
	}
	for _, f := range t.Facts {
		if reservedKeys[f.Name] {
			return fmt.Errorf("reconcile: fact %q has the name of a table key", f.Name)
		}
		b.WriteString(",\n  ")
		key(f.Name)
		jsonValue(&b, f.Kind, f.Value)
	}
	if len(t.Notes) > 0 {
		b.WriteString(",\n  ")
		key("notes")
		s, _ = json.Marshal(t.Notes)
		b.Write(s)
	}
	b.WriteString("\n}\n")
	_, err := w.Write(b.Bytes())
	return err
}

func renderText(w io.Writer, t Table) error {
	width := make([]int, len(t.Columns))
	header := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c.Name
	}
	all := append([][]string{header}, t.Rows...)
	if t.Totals != nil {
		all = append(all, t.Totals)
	}
	for _, r := range all {
		for i := range width {
			if i < len(r) {
				width[i] = max(width[i], utf8.RuneCountInString(r[i]))
			}
		}
	}
	var b strings.Builder
	if t.Title != "" {
		b.WriteString(t.Title + "\n")
	}
	line := func(r []string, numeric func(i int) bool) {
		var ln strings.Builder
		for i := range width {
			cell := ""
			if i < len(r) {
				cell = r[i]
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell))
			if i > 0 {
				ln.WriteString("  ")
			}
			if numeric(i) {
				ln.WriteString(pad + cell)
			} else {
				ln.WriteString(cell + pad)
			}
		}
		b.WriteString(strings.TrimRight(ln.String(), " ") + "\n")
	}
	isNum := func(i int) bool { return t.Columns[i].Kind == Count || t.Columns[i].Kind == Money }
	sep := func() {
		for i := range width {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(strings.Repeat("-", width[i]))
		}
		b.WriteString("\n")
	}
	line(header, isNum)
	sep()
	for _, r := range t.Rows {
		line(r, isNum)
	}
	if t.Totals != nil {
		sep()
		line(t.Totals, isNum)
	}
	for _, f := range t.Facts {
		b.WriteString(strings.ReplaceAll(f.Name, "_", " ") + ": " + f.Value + "\n")
	}
	for _, n := range t.Notes {
		b.WriteString(n + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Shorthands for building tables.
func colText(name string) Column  { return Column{name, Text} }
func colCount(name string) Column { return Column{name, Count} }
func colMoney(name string) Column { return Column{name, Money} }
