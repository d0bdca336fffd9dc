package terminal

import (
	"crypto/ed25519"
	"fmt"
)

// IssuerKey is one issuer public key a terminal trusts.
type IssuerKey struct {
	ID     KeyID             `json:"id"`
	Public ed25519.PublicKey `json:"public"`
}

// Keyring holds the issuer keys a terminal trusts, so keys can rotate: codes
// signed by any key in the ring verify. The zero Keyring trusts nothing.
// A Keyring is not safe for concurrent mutation; replace it whole.
type Keyring struct {
	keys []IssuerKey
}

// NewKeyring returns a keyring trusting pubs.
func NewKeyring(pubs ...ed25519.PublicKey) (*Keyring, error) {
	k := &Keyring{}
	for _, p := range pubs {
		if err := k.Add(p); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Add trusts pub. Adding a key twice is harmless.
func (k *Keyring) Add(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("issuer key: want %d bytes, got %d", ed25519.PublicKeySize, len(pub))
	}
	id := KeyIDOf(pub)
	if k.Lookup(id) != nil {
		return nil
	}
	k.keys = append(k.keys, IssuerKey{ID: id, Public: append(ed25519.PublicKey(nil), pub...)})
	return nil
}

// Lookup returns the public key with id, or nil.
func (k *Keyring) Lookup(id KeyID) ed25519.PublicKey {
	if k == nil {
		return nil
	}
	for i := range k.keys {
		if k.keys[i].ID == id {
			return k.keys[i].Public
		}
	}
	return nil
}

// Keys returns a copy of the trusted keys.
func (k *Keyring) Keys() []IssuerKey {
	if k == nil {
		return nil
	}
	return append([]IssuerKey(nil), k.keys...)
}
