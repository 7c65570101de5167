package web_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/citypass/citypass/web"
)

// TestExposed: which listen addresses reach beyond this computer (and so
// need a token or client certificates).
func TestExposed(t *testing.T) {
	for _, tc := range []struct {
		listen  string
		exposed bool
	}{
		{"127.0.0.1:8080", false},
		{"127.0.0.2:8080", false},
		{"[::1]:8080", false},
		{"localhost:8080", false},
		{":8080", true},
		{"0.0.0.0:8080", true},
		{"[::]:8080", true},
		{"192.168.1.20:8080", true},
		{"[fe80::1]:8080", true},
		{"dashboard.example.org:8080", true},
		{"localhost.example.org:8080", true},
		{"127.0.0.1", true}, // no port: not an address this code understands, so not trusted
	} {
		assert.Equal(t, tc.exposed, web.Exposed(tc.listen), tc.listen)
	}
}
