package reconcile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Manifest is a statement's JSON manifest (docs/semantics.md, "Reconciliation").
// Its keys are exactly these, in this order; amounts are decimal strings with 2
// places.
type Manifest struct {
	Statement      string        `json:"statement"`
	Partner        string        `json:"partner"`
	Period         string        `json:"period"`
	PeriodStart    string        `json:"period_start"` // RFC 3339, tariff zone
	PeriodEnd      string        `json:"period_end"`   // exclusive
	DataAsOf       DataAsOf      `json:"data_as_of"`
	Contract       ContractTerms `json:"contract"`
	Currency       string        `json:"currency"`
	Visits         int           `json:"visits"` // visit lines (adjustments not counted)
	Gross          string        `json:"gross"`
	CapReduction   string        `json:"cap_reduction"`
	Adjustments    string        `json:"adjustments"`
	Net            string        `json:"net"`
	CSVSHA256      string        `json:"csv_sha256"`      // hex SHA-256 of the CSV file
	PreviousSHA256 string        `json:"previous_sha256"` // hex SHA-256 of the partner's previous manifest file; zeros for the first
	Signature      string        `json:"signature"`       // base64 Ed25519 over CanonicalBytes
}

// DataAsOf says which journal the statement covers: every tap journaled up
// to and including JournalSeq, the last of which was recorded at RecordedAt.
type DataAsOf struct {
	JournalSeq uint64 `json:"journal_seq"`
	RecordedAt string `json:"recorded_at"` // RFC 3339 UTC; empty for an empty journal
}

// ContractTerms are the governing contract's terms as applied.
type ContractTerms struct {
	Tariff  string            `json:"tariff"` // tariff version id
	Model   string            `json:"model"`
	Period  string            `json:"period"`
	Rates   map[string]string `json:"rates,omitempty"`
	Percent string            `json:"percent,omitempty"`
	Amount  string            `json:"amount,omitempty"`
	Cap     string            `json:"cap,omitempty"`
}

// ManifestKeys are the manifest's keys, exactly.
var ManifestKeys = []string{"statement", "partner", "period", "period_start", "period_end", "data_as_of",
	"contract", "currency", "visits", "gross", "cap_reduction", "adjustments", "net", "csv_sha256",
	"previous_sha256", "signature"}

// ZeroSHA256 is previous_sha256 of a partner's first statement.
const ZeroSHA256 = "0000000000000000000000000000000000000000000000000000000000000000"

// encodeManifest writes the manifest file bytes: indented by two spaces, keys
// in ManifestKeys order, no HTML escaping, one trailing newline.
func encodeManifest(m *Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("reconcile: encoding manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// CanonicalBytes returns the bytes a manifest's signature covers: the
// manifest JSON without its "signature" key, with every object's keys sorted
// by byte order, no insignificant whitespace, no HTML escaping and numbers as
// written. It is what `jq -cjS 'del(.signature)' FILE.json` prints, so a
// partner can check a signature with standard tools.
func CanonicalBytes(manifestJSON []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(manifestJSON))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("manifest is not a JSON object: %w", err)
	}
	delete(v, "signature")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // maps encode with sorted keys
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// signManifest fills m.Signature and returns the final manifest bytes.
func signManifest(m *Manifest, s *Signer) ([]byte, error) {
	m.Signature = ""
	unsigned, err := encodeManifest(m)
	if err != nil {
		return nil, err
	}
	canon, err := CanonicalBytes(unsigned)
	if err != nil {
		return nil, err
	}
	m.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.priv, canon))
	return encodeManifest(m)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
