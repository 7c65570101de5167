package reconcile

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Table is the printable form of every report and result: a title, columns,
// rows of cells (amounts already formatted with 2 places), an optional totals
// row and notes. Render prints it for people or tools.
type Table struct {
	Title   string
	Columns []string
	Rows    [][]string
	Totals  []string // same width as Columns; nil when none
	Notes   []string // e.g. warnings; printed after the table
}

// Tabler is implemented by every report and result.
type Tabler interface{ Table() Table }

// Format is an output format of Render.
type Format string

// Formats.
const (
	FormatTable Format = "table" // aligned columns for people
	FormatCSV   Format = "csv"   // header + rows (+ totals row with first cell "TOTAL")
	FormatJSON  Format = "json"  // {"title","columns","rows":[{col:cell}],"totals":{…},"notes"}
)

// ParseFormat reads a format name; "" is FormatTable.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", FormatTable:
		return FormatTable, nil
	case FormatCSV, FormatJSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("reconcile: format %q: want table, csv or json", s)
}

// Render prints a report in a format.
func Render(w io.Writer, r Tabler, f Format) error {
	t := r.Table()
	switch f {
	case FormatCSV:
		cw := csv.NewWriter(w)
		_ = cw.Write(t.Columns)
		_ = cw.WriteAll(t.Rows)
		if t.Totals != nil {
			_ = cw.Write(t.Totals)
		}
		cw.Flush()
		return cw.Error()
	case FormatJSON:
		obj := func(row []string) map[string]string {
			m := make(map[string]string, len(row))
			for i, c := range t.Columns {
				if i < len(row) {
					m[c] = row[i]
				}
			}
			return m
		}
		out := struct {
			Title   string              `json:"title"`
			Columns []string            `json:"columns"`
			Rows    []map[string]string `json:"rows"`
			Totals  map[string]string   `json:"totals,omitempty"`
			Notes   []string            `json:"notes,omitempty"`
		}{Title: t.Title, Columns: t.Columns, Rows: []map[string]string{}, Notes: t.Notes}
		for _, r := range t.Rows {
			out.Rows = append(out.Rows, obj(r))
		}
		if t.Totals != nil {
			out.Totals = obj(t.Totals)
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case FormatTable, "":
		return renderText(w, t)
	}
	return fmt.Errorf("reconcile: unknown format %q", f)
}

func renderText(w io.Writer, t Table) error {
	width := make([]int, len(t.Columns))
	all := append([][]string{t.Columns}, t.Rows...)
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
	line := func(r []string) {
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
			if numeric(cell) {
				ln.WriteString(pad + cell)
			} else {
				ln.WriteString(cell + pad)
			}
		}
		b.WriteString(strings.TrimRight(ln.String(), " ") + "\n")
	}
	sep := func() {
		for i := range width {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(strings.Repeat("-", width[i]))
		}
		b.WriteString("\n")
	}
	line(t.Columns)
	sep()
	for _, r := range t.Rows {
		line(r)
	}
	if t.Totals != nil {
		sep()
		line(t.Totals)
	}
	for _, n := range t.Notes {
		b.WriteString(n + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c >= '0' && c <= '9' || c == '.' || (c == '-' && i == 0)) {
			return false
		}
	}
	return true
}
