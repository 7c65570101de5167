package reconcile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzVerifyManifest: whatever a manifest holds, Verify reports problems
// (naming the file) and never panics or passes a forged one.
func FuzzVerifyManifest(f *testing.F) {
	f.Add([]byte(`{"statement":"x","partner":"p","period":"2026-11","period_start":"","period_end":"","data_as_of":{"journal_seq":1,"recorded_at":""},"contract":{"tariff":"v","model":"flat","period":"month"},"currency":"EUR","visits":0,"gross":"1.00","cap_reduction":"0.00","adjustments":"0.00","net":"1.00","csv_sha256":"","previous_sha256":"0000000000000000000000000000000000000000000000000000000000000000","signature":""}`), []byte("line,kind,amount\n1,flat_fee,1.00\n"))
	f.Add([]byte(`{"visits":"3"}`), []byte(""))
	f.Add([]byte(`[`), []byte("x"))
	pub := testSigner(f, 1).PublicKey()
	f.Fuzz(func(t *testing.T, manifest, csv []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "x.json"), manifest, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "x.csv"), csv, 0o644))
		_, err := Verify(dir, pub)
		var ve *VerifyError
		require.ErrorAs(t, err, &ve)
		require.NotEmpty(t, ve.Problems)
	})
}
