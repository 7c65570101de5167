package tariff

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem found while loading a tariff file: the file, the line
// of the offending key (1-based; the table header for a missing key, 1 for the
// file as a whole) and a message that names the key and what is wrong.
type Error struct {
	File string
	Line int
	Msg  string
}

// Error formats e as "FILE:LINE: message", the form editors and CI jump to.
func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ErrorList is every problem found in one tariff file, sorted by line (problems
// on one line keep the order they were found in). Load returns a non-empty
// ErrorList, never a partial tariff.
type ErrorList []*Error

// Error joins the entries, one "FILE:LINE: message" per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the entries, so that errors.As finds an *Error.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// maxErrors bounds how many problems one file reports; a file that is not a
// tariff at all would otherwise produce one line per key.
const maxErrors = 200

// errorSink collects errors for one file.
type errorSink struct {
	file    string
	list    ErrorList
	dropped int
}

func (s *errorSink) add(line int, format string, args ...any) {
	if line < 1 {
		line = 1
	}
	msg := fmt.Sprintf(format, args...)
	for _, e := range s.list {
		if e.Line == line && e.Msg == msg {
			return // one problem reported once (e.g. each element of a mistyped array)
		}
	}
	if len(s.list) >= maxErrors {
		s.dropped++
		return
	}
	s.list = append(s.list, &Error{File: s.file, Line: line, Msg: msg})
}

// result returns the sorted list, or nil when there is nothing to report.
func (s *errorSink) result() error {
	if len(s.list) == 0 {
		return nil
	}
	sort.SliceStable(s.list, func(i, j int) bool { return s.list[i].Line < s.list[j].Line })
	if s.dropped > 0 {
		last := s.list[len(s.list)-1].Line
		s.list = append(s.list, &Error{File: s.file, Line: last,
			Msg: fmt.Sprintf("%d more errors not shown (at most %d per file)", s.dropped, maxErrors)})
	}
	return s.list
}
