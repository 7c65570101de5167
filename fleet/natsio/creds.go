package natsio

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nkeys"

	"github.com/citypass/citypass/internal/atomicfile"
)

// Credentials are what a node or the operator needs to reach the hub: the
// node id (empty for the operator), the hub's URLs, an NKey seed (the
// secret: the hub only knows its public key) and, for a hub listening with
// TLS, the certificate authority to trust (PEM). Stored as JSON, mode 0600.
type Credentials struct {
	Node string   `json:"node,omitempty"`
	Hub  []string `json:"hub"`
	Seed string   `json:"nkey_seed"`
	CA   string   `json:"ca_pem,omitempty"`
}

// NewCredentials draws a fresh NKey user for node (empty: the operator) and
// returns the credentials and the public key the hub authorizes.
func NewCredentials(node string, hub []string, caPEM string) (Credentials, string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return Credentials{}, "", fmt.Errorf("natsio: creating an nkey: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return Credentials{}, "", err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return Credentials{}, "", err
	}
	return Credentials{Node: node, Hub: hub, Seed: string(seed), CA: caPEM}, pub, nil
}

// PublicKey returns the public key of the credentials' seed.
func (c *Credentials) PublicKey() (string, error) {
	kp, err := nkeys.FromSeed([]byte(c.Seed))
	if err != nil {
		return "", fmt.Errorf("natsio: credentials: bad nkey seed: %w", err)
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

// ErrBadCredentials reports an unreadable credentials file.
var ErrBadCredentials = errors.New("natsio: bad credentials file")

// LoadCredentials reads a credentials file and checks it.
func LoadCredentials(path string) (Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("reading credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return Credentials{}, fmt.Errorf("%s: %w: %v", path, ErrBadCredentials, err)
	}
	if _, err := c.PublicKey(); err != nil {
		return Credentials{}, fmt.Errorf("%s: %w: %v", path, ErrBadCredentials, err)
	}
	if len(c.Hub) == 0 {
		return Credentials{}, fmt.Errorf("%s: %w: no hub URL", path, ErrBadCredentials)
	}
	if c.CA != "" {
		if _, err := c.certPool(); err != nil {
			return Credentials{}, fmt.Errorf("%s: %w: %v", path, ErrBadCredentials, err)
		}
	}
	return c, nil
}

// Save writes the credentials to path with mode 0600, atomically
// (internal/atomicfile).
func (c *Credentials) Save(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing credentials: %w", err)
	}
	return nil
}

func (c *Credentials) certPool() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if block, _ := pem.Decode([]byte(c.CA)); block == nil || !pool.AppendCertsFromPEM([]byte(c.CA)) {
		return nil, errors.New("the CA is not a PEM certificate")
	}
	return pool, nil
}
