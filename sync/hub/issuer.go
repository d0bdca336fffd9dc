package hub

import (
	"context"
	"crypto/ed25519"

	"github.com/voucherpos/voucherpos/terminal"
)

// Signer returns the key the hub mints with now, for the issuing side
// (sync/issuing), which signs the vouchers consumers claim with it.
func (h *Hub) Signer() ed25519.PrivateKey {
	priv, _ := h.signing()
	return priv
}

// KeyFor returns the issuing key with id, current or earlier, so that the
// issuing side can sign a voucher claimed before a key rotation again.
func (h *Hub) KeyFor(id terminal.KeyID) (ed25519.PrivateKey, bool) {
	ks, err := h.store.IssuingKeys(context.Background())
	if err != nil {
		return nil, false
	}
	for _, k := range ks.All {
		if terminal.KeyIDOf(k.Public().(ed25519.PublicKey)) == id {
			return k, true
		}
	}
	return nil, false
}
