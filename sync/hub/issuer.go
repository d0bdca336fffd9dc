package hub

import "crypto/ed25519"

// Signer returns the key the hub mints with now, for the issuing side
// (sync/issuing), which signs the vouchers consumers claim with it.
func (h *Hub) Signer() ed25519.PrivateKey {
	priv, _ := h.signing()
	return priv
}
