package reconcile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Problem is one thing wrong in a statement directory: the file and the
// manifest field (or CSV line) at fault.
type Problem struct {
	File  string // base name, e.g. "mucem-2026-11.json"
	Field string // manifest key, "line N" of a CSV, or "" for the file itself
	Msg   string
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.File + ": " + p.Msg
	}
	return p.File + ": " + p.Field + ": " + p.Msg
}

// VerifyError lists every problem Verify found. It is returned whenever the
// directory does not verify.
type VerifyError struct {
	Dir      string
	Problems []Problem
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reconcile: %s does not verify (%d problem", e.Dir, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString(")")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// VerifyReport says what Verify checked.
type VerifyReport struct {
	Dir        string
	Statements int            // manifests checked
	Partners   map[string]int // statements per partner chain
	// Coverage is the ledger's coverage by statements, when the caller
	// checked it (VerifyWithLedger).
	Coverage *CoverageReport
}

// Verify checks a directory of statements against a signing public key:
// every manifest has exactly the ManifestKeys, its amounts add up (net = gross -
// cap_reduction + adjustments, and the CSV's amounts), the CSV's SHA-256 is
// csv_sha256, the Ed25519 signature over CanonicalBytes is valid, and each
// partner's statements chain: the first names ZeroSHA256 and every other the
// SHA-256 of the partner's previous manifest file (by period start). It
// returns a *VerifyError listing every problem found.
func Verify(dir string, pub ed25519.PublicKey) (*VerifyReport, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reconcile: verify: %w", err)
	}
	rep := &VerifyReport{Dir: dir, Partners: map[string]int{}}
	var probs []Problem
	add := func(file, field, format string, args ...any) {
		probs = append(probs, Problem{File: file, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	type link struct {
		file, partner, start, prev, sha string
	}
	var links []link
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		rep.Statements++
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reconcile: verify: %w", err)
		}
		m, ok := checkManifest(name, data, add)
		if !ok {
			continue
		}
		checkCSV(dir, name, m, add)
		checkSignature(name, data, m.Signature, pub, add)
		links = append(links, link{file: name, partner: m.Partner, start: m.PeriodStart, prev: m.PreviousSHA256,
			sha: sha256Hex(data)})
		rep.Partners[m.Partner]++
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".csv") || strings.HasPrefix(name, ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(name, ".csv")+".json")); err != nil {
			add(name, "", "has no manifest %s.json beside it", strings.TrimSuffix(name, ".csv"))
		}
	}
	if rep.Statements == 0 {
		add(dir, "", "no statement manifests (*.json)")
	}
	// Chains, per partner, by period start (RFC 3339 with the zone's offset:
	// compare as instants via the string only when offsets agree, so parse).
	sort.SliceStable(links, func(i, j int) bool {
		if links[i].partner != links[j].partner {
			return links[i].partner < links[j].partner
		}
		return instantLess(links[i].start, links[j].start)
	})
	for i, lk := range links {
		if i == 0 || links[i-1].partner != lk.partner {
			if lk.prev != ZeroSHA256 {
				add(lk.file, "previous_sha256", "%s names a previous statement of %s that is not in the directory (first statement must have %s)",
					lk.prev, lk.partner, "zeros")
			}
			continue
		}
		if lk.prev != links[i-1].sha {
			add(lk.file, "previous_sha256", "%s is not the SHA-256 of %s (%s): a statement is missing or changed",
				lk.prev, links[i-1].file, links[i-1].sha)
		}
	}
	if len(probs) > 0 {
		return rep, &VerifyError{Dir: dir, Problems: probs}
	}
	return rep, nil
}

// checkManifest parses a manifest with exactly the ManifestKeys and consistent amounts.
func checkManifest(name string, data []byte, add func(file, field, format string, args ...any)) (*Manifest, bool) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		add(name, "", "not a JSON object: %v", err)
		return nil, false
	}
	ok := true
	for _, k := range ManifestKeys {
		if _, found := raw[k]; !found {
			add(name, k, "missing")
			ok = false
		}
	}
	known := map[string]bool{}
	for _, k := range ManifestKeys {
		known[k] = true
	}
	var extra []string
	for k := range raw {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		add(name, k, "unknown key")
		ok = false
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			add(name, te.Field, "wrong type: %v", err)
		} else if ok {
			add(name, "", "bad manifest: %v", err)
		}
		return nil, false
	}
	if !ok {
		return nil, false
	}
	if want := strings.TrimSuffix(name, ".json"); m.Statement != want {
		add(name, "statement", "%q does not match the file name", m.Statement)
	}
	amounts := map[string]decimal.Decimal{}
	for _, f := range []struct{ key, v string }{{"gross", m.Gross}, {"cap_reduction", m.CapReduction},
		{"adjustments", m.Adjustments}, {"net", m.Net}} {
		d, err := parseMoney(f.v)
		if err != nil || formatMoney(d) != f.v {
			add(name, f.key, "%q is not an amount with 2 places", f.v)
			ok = false
			continue
		}
		amounts[f.key] = d
	}
	if ok && !amounts["gross"].Sub(amounts["cap_reduction"]).Add(amounts["adjustments"]).Equal(amounts["net"]) {
		add(name, "net", "%s is not gross - cap_reduction + adjustments (%s - %s + %s)", m.Net, m.Gross, m.CapReduction, m.Adjustments)
	}
	return &m, true
}

// checkCSV checks the CSV's hash and that its lines add up to the manifest.
func checkCSV(dir, name string, m *Manifest, add func(file, field, format string, args ...any)) {
	csvName := strings.TrimSuffix(name, ".json") + ".csv"
	data, err := os.ReadFile(filepath.Join(dir, csvName))
	if err != nil {
		add(csvName, "", "missing or unreadable: %v", err)
		return
	}
	if got := sha256Hex(data); got != m.CSVSHA256 {
		add(name, "csv_sha256", "%s does not match %s (its SHA-256 is %s)", m.CSVSHA256, csvName, got)
		return
	}
	var net, adj decimal.Decimal
	visits, line := 0, 1
	err = eachCSVLine(data, func(rec map[string]string) error {
		line++
		a, err := parseMoney(rec["amount"])
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		net = net.Add(a)
		switch rec["kind"] {
		case KindVisit:
			visits++
		case KindAdjustment:
			adj = adj.Add(a)
		}
		return nil
	})
	if err != nil {
		add(csvName, "", "%v", err)
		return
	}
	if visits != m.Visits {
		add(name, "visits", "%d, but %s has %d visit lines", m.Visits, csvName, visits)
	}
	if formatMoney(net) != m.Net {
		add(name, "net", "%s, but the amounts in %s add up to %s", m.Net, csvName, formatMoney(net))
	}
	if formatMoney(adj) != m.Adjustments {
		add(name, "adjustments", "%s, but the adjustment lines in %s add up to %s", m.Adjustments, csvName, formatMoney(adj))
	}
}

func checkSignature(name string, data []byte, sig string, pub ed25519.PublicKey, add func(file, field, format string, args ...any)) {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		add(name, "signature", "not a base64 Ed25519 signature")
		return
	}
	canon, err := CanonicalBytes(data)
	if err != nil {
		add(name, "", "%v", err)
		return
	}
	if !ed25519.Verify(pub, canon, raw) {
		add(name, "signature", "does not verify with key %s (manifest changed or signed by another key)", Fingerprint(pub))
	}
}

func instantLess(a, b string) bool {
	ta, errA := parseRFC3339(a)
	tb, errB := parseRFC3339(b)
	if errA != nil || errB != nil {
		return a < b
	}
	return ta.Before(tb)
}

func parseRFC3339(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// eachCSVLine calls fn with every data row of a statement CSV, by column name.
func eachCSVLine(data []byte, fn func(map[string]string) error) error {
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("csv header: %w", err)
	}
	header = append([]string(nil), header...)
	row := make(map[string]string, len(header))
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(rec) != len(header) {
			return fmt.Errorf("csv: row has %d fields, header %d", len(rec), len(header))
		}
		for i, h := range header {
			row[h] = rec[i]
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}
