package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
)

// NonceSize is the length of the server's challenge.
const NonceSize = 32

// Domain tags keep a signature made for one purpose from being replayed for another.
const (
	helloTag   = "voucherpos-sync-hello-v1\x00"
	welcomeTag = "voucherpos-sync-welcome-v1\x00"
)

// NewNonce returns a fresh random challenge.
func NewNonce() []byte {
	b := make([]byte, NonceSize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return b
}

// HelloMessage is what a terminal signs to answer a challenge: the domain
// tag, the nonce, the terminal id and the merchant id.
func HelloMessage(nonce []byte, terminalID, merchantID string) []byte {
	b := make([]byte, 0, len(helloTag)+len(nonce)+len(terminalID)+len(merchantID)+1)
	b = append(b, helloTag...)
	b = append(b, nonce...)
	b = append(b, terminalID...)
	b = append(b, 0)
	b = append(b, merchantID...)
	return b
}

// WelcomeMessage is what the server signs with its issuing key to prove
// itself to the terminal: the domain tag, the nonce, the terminal's
// signature and the watermark, so a welcome cannot be replayed.
func WelcomeMessage(nonce, helloSig []byte, watermark uint64) []byte {
	b := make([]byte, 0, len(welcomeTag)+len(nonce)+len(helloSig)+8)
	b = append(b, welcomeTag...)
	b = append(b, nonce...)
	b = append(b, helloSig...)
	return binary.BigEndian.AppendUint64(b, watermark)
}

// VerifyHello reports whether sig is pub's signature of HelloMessage.
func VerifyHello(pub ed25519.PublicKey, nonce []byte, terminalID, merchantID string, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, HelloMessage(nonce, terminalID, merchantID), sig)
}

// Close codes of the sync websocket, beyond the standard ones: 1000 normal,
// 1001 going away, 1012 service restart (the server shuts down: reconnect
// after at least the backoff base), 1013 try again later (overloaded).
const (
	// CloseProtocol: a message was malformed or out of place.
	CloseProtocol = 4400
	// CloseUnauthorized: unknown terminal, bad signature or wrong merchant.
	CloseUnauthorized = 4401
	// CloseRevoked: the terminal's credential is revoked.
	CloseRevoked = 4403
	// CloseReplaced: the same terminal connected again; this older connection ends.
	CloseReplaced = 4408
	// CloseRejected: a record failed verification (broken chain, bad
	// signature, another merchant's record); the batch was not stored.
	CloseRejected = 4409
	// CloseFork: the terminal's ledger does not continue what the server
	// holds (or an administrator reset it): reconnect, and read the fork
	// in the welcome's state.
	CloseFork = 4410
	// CloseServiceRestart is the standard 1012: the server is shutting down.
	CloseServiceRestart = 1012
	// CloseTryAgainLater is the standard 1013.
	CloseTryAgainLater = 1013
)
