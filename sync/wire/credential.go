package wire

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Credential is a terminal's enrolment, written by `voucherd terminal add`
// to a file only that terminal reads. The server keeps only the public key.
type Credential struct {
	TerminalID string `json:"terminal_id"`
	MerchantID string `json:"merchant_id"`
	// Seed is the terminal's Ed25519 private key seed (32 bytes). It signs
	// the handshake and every record of the terminal's chain.
	Seed []byte `json:"seed"`
	// Server is a hint of the sync URL ("ws://host:port/v1/sync"); may be empty.
	Server string `json:"server,omitempty"`
	// CA, if set, is PEM of the certificates the terminal trusts for a
	// wss:// server (the county's CA, or the server's own certificate);
	// empty means the system's roots. Older credentials have none.
	CA []byte `json:"ca,omitempty"`
	// Servers are more sync URLs of the same programme (several voucherd
	// instances on one database); the agent tries Server, then these, in
	// turn. Credentials made before it have none.
	Servers []string `json:"servers,omitempty"`
	// ServerKey is the server's issuing public key: the terminal trusts it
	// for vouchers before its first sync and checks the welcome's signature with it.
	ServerKey ed25519.PublicKey `json:"server_key,omitempty"`
}

// ErrCredential is returned when a credential file is malformed.
var ErrCredential = errors.New("malformed terminal credential")

// Check validates the credential's fields.
func (c *Credential) Check() error {
	switch {
	case c.TerminalID == "" || len(c.TerminalID) > 64:
		return fmt.Errorf("%w: terminal id must be 1..64 bytes", ErrCredential)
	case c.MerchantID == "" || len(c.MerchantID) > 64:
		return fmt.Errorf("%w: merchant id must be 1..64 bytes", ErrCredential)
	case len(c.Seed) != ed25519.SeedSize:
		return fmt.Errorf("%w: seed of %d bytes, want %d", ErrCredential, len(c.Seed), ed25519.SeedSize)
	case len(c.ServerKey) != 0 && len(c.ServerKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: server key of %d bytes", ErrCredential, len(c.ServerKey))
	}
	if _, err := c.TLSConfig(); err != nil {
		return err
	}
	return nil
}

// URLs returns the sync URLs to try in turn: Server, then Servers, each once.
func (c *Credential) URLs() []string {
	var out []string
	for _, u := range append([]string{c.Server}, c.Servers...) {
		if u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// PrivateKey returns the terminal's signing key.
func (c *Credential) PrivateKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(c.Seed) }

// PublicKey returns the terminal's public key, the one the server stores.
func (c *Credential) PublicKey() ed25519.PublicKey {
	return c.PrivateKey().Public().(ed25519.PublicKey)
}

// ParseCredential decodes and checks a credential file's contents.
func ParseCredential(b []byte) (Credential, error) {
	var c Credential
	if err := json.Unmarshal(b, &c); err != nil {
		return Credential{}, fmt.Errorf("%w: %v", ErrCredential, err)
	}
	return c, c.Check()
}

// LoadCredential reads a credential file.
func LoadCredential(path string) (Credential, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Credential{}, fmt.Errorf("load credential: %w", err)
	}
	c, err := ParseCredential(b)
	if err != nil {
		return Credential{}, fmt.Errorf("load credential %s: %w", path, err)
	}
	return c, nil
}

// Write stores the credential at path with mode 0600, atomically (a
// temporary file renamed into place).
func (c *Credential) Write(path string) error {
	if err := c.Check(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credential-*")
	if err != nil {
		return fmt.Errorf("write credential: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(append(b, '\n'))
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write credential: %w", err)
	}
	return nil
}
