package cardio

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAPDUBytes(t *testing.T) {
	b, err := APDU{CLA: 0xFF, INS: 0xCA, Le: 256}.Bytes()
	require.NoError(t, err)
	require.Equal(t, []byte{0xFF, 0xCA, 0, 0, 0}, b)
}
