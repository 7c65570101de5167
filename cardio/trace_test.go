package cardio

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMaskCommand(t *testing.T) {
	assert.Equal(t, "FF CA 00 00 00", MaskCommand(unhex(t, "FFCA000000"), 0))
	assert.Equal(t, "90 C4 00 00 29 [37 bytes masked]", MaskCommand(append(unhex(t, "90C4000029"), make([]byte, 37)...), 0))
	assert.Equal(t, "90 AF 00 00 20 [33 bytes masked]", MaskCommand(append(unhex(t, "90AF000020"), make([]byte, 33)...), 0x71))
	assert.Equal(t, "90 AF 00 00 00", MaskCommand(unhex(t, "90AF000000"), 0x60), "GetVersion continuation is harmless")
	assert.Equal(t, "[16 bytes masked] 91 AF", MaskResponse(append(make([]byte, 16), 0x91, 0xAF), 0x71, 0x71))
	assert.Equal(t, "04 04 91 AF", MaskResponse([]byte{4, 4, 0x91, 0xAF}, 0xAF, 0x60))
	assert.Equal(t, "91 00", MaskResponse([]byte{0x91, 0x00}, 0xC4, 0xC4))
}

func TestTracerMasksAuthentication(t *testing.T) {
	// The AN12196 §6.6 exchange through a Tracer: no challenge or cryptogram
	// appears in the log.
	sc := newScript(t,
		step{cmd: "9071000002000000", resp: "A04C124213C186F22399D33AC2A3021591AF"},
		step{cmd: "90AF00002035C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D00",
			resp: "3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F081206639100"},
		step{cmd: "FFCA000000", resp: "04A23B5A6C12909000"},
	)
	var buf bytes.Buffer
	tr := Trace(sc, slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	_, err := AuthenticateEV2First(context.Background(), tr, 0, Key{}, bytes.NewReader(unhex(t, "13C5DB8A5930439FC3DEF9A4C675360F")))
	require.NoError(t, err)
	_, err = GetUID(context.Background(), tr)
	require.NoError(t, err)
	sc.done()
	out := buf.String()
	for _, secret := range []string{"A0 4C 12", "35 C3 E0", "3F A6 4D"} {
		assert.NotContains(t, out, secret)
	}
	assert.Contains(t, out, "masked")
	assert.Contains(t, out, "04 A2 3B 5A 6C 12 90 90 00", "harmless traffic stays readable")
}
