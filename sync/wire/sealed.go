package wire

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
)

// A sealed frame is how the server sends a terminal that said version ≥ 2
// every control message from the welcome on: a binary websocket message
//
//	"VPS1"  magic
//	n       u64 big-endian: 0 for the welcome, then 1, 2, … in the order sent
//	sig     [64] Ed25519(server identity key, SealedMessage)
//	msg     the JSON control message, to the end of the frame
//
// The signature binds the message to this connection (the challenge's
// nonce and the terminal's hello signature) and to its place in it (n): a
// forged, altered, reordered or replayed message, or one the server signed
// for another connection or another terminal, does not verify.
const sealMagic = "VPS1"

// sealHeader is the length of a sealed frame before its message.
const sealHeader = len(sealMagic) + 8 + ed25519.SignatureSize

// sealTag is the domain tag of a sealed frame's signature.
const sealTag = "voucherpos-sync-server-v2\x00"

// SealedVersion is the first hello version the server answers with sealed frames.
const SealedVersion = 2

// ErrSealed is returned for a sealed frame that is malformed, out of order,
// or not signed by the server key for this connection.
var ErrSealed = errors.New("server message not signed for this connection")

// SealedMessage is what the server signs for the n-th message of the
// connection whose challenge was nonce and whose hello carried helloSig:
// the domain tag ‖ nonce ‖ helloSig ‖ n (u64 BE) ‖ msg.
func SealedMessage(nonce, helloSig []byte, n uint64, msg []byte) []byte {
	return appendSealedMessage(make([]byte, 0, len(sealTag)+len(nonce)+len(helloSig)+8+len(msg)), nonce, helloSig, n, msg)
}

// appendSealedMessage appends SealedMessage to b.
func appendSealedMessage(b, nonce, helloSig []byte, n uint64, msg []byte) []byte {
	b = append(b, sealTag...)
	b = append(b, nonce...)
	b = append(b, helloSig...)
	b = binary.BigEndian.AppendUint64(b, n)
	return append(b, msg...)
}

// Sealer seals the server's messages of one connection, numbering them
// from 0. It is not safe for concurrent use: one writer seals.
type Sealer struct {
	key             ed25519.PrivateKey
	nonce, helloSig []byte
	n               uint64
}

// NewSealer returns the sealer of the connection whose challenge was nonce
// and whose hello carried helloSig.
func NewSealer(key ed25519.PrivateKey, nonce, helloSig []byte) *Sealer {
	return &Sealer{key: key, nonce: nonce, helloSig: helloSig}
}

// Seal returns the sealed frame of msg, the next message of the connection.
func (s *Sealer) Seal(msg []byte) []byte {
	sig := ed25519.Sign(s.key, SealedMessage(s.nonce, s.helloSig, s.n, msg))
	b := make([]byte, 0, sealHeader+len(msg))
	b = append(b, sealMagic...)
	b = binary.BigEndian.AppendUint64(b, s.n)
	b = append(b, sig...)
	s.n++
	return append(b, msg...)
}

// Opener checks the sealed frames of one connection, in order. It is not
// safe for concurrent use: one reader opens.
type Opener struct {
	pub             ed25519.PublicKey
	nonce, helloSig []byte
	n               uint64
	signed          []byte // the last SealedMessage checked, kept for the next when small
}

// maxOpenerBuffer is the largest SealedMessage buffer an Opener keeps.
const maxOpenerBuffer = 256 << 10

// NewOpener returns the opener of the connection whose challenge was nonce
// and whose hello carried helloSig. With a nil pub (a credential without
// server_key, over TLS) it checks the framing and the order only.
func NewOpener(pub ed25519.PublicKey, nonce, helloSig []byte) *Opener {
	return &Opener{pub: pub, nonce: nonce, helloSig: helloSig}
}

// Open returns the message of frame, the next sealed frame of the
// connection, or an error wrapping ErrSealed; it never panics. A frame that
// fails changes nothing: the opener still expects the same number.
func (o *Opener) Open(frame []byte) ([]byte, error) {
	if len(frame) < sealHeader || string(frame[:len(sealMagic)]) != sealMagic {
		return nil, fmt.Errorf("%w: not a sealed frame", ErrSealed)
	}
	n := binary.BigEndian.Uint64(frame[len(sealMagic):])
	if n != o.n {
		return nil, fmt.Errorf("%w: message number %d, want %d (replayed or reordered)", ErrSealed, n, o.n)
	}
	sig, msg := frame[len(sealMagic)+8:sealHeader], frame[sealHeader:]
	if o.pub != nil {
		if len(o.pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: message %d: bad signature (forged, altered, or signed for another connection)", ErrSealed, n)
		}
		signed := appendSealedMessage(o.signed[:0], o.nonce, o.helloSig, n, msg)
		if o.signed = signed; cap(signed) > maxOpenerBuffer {
			o.signed = nil
		}
		if !ed25519.Verify(o.pub, signed, sig) {
			return nil, fmt.Errorf("%w: message %d: bad signature (forged, altered, or signed for another connection)", ErrSealed, n)
		}
	}
	o.n++
	return msg, nil
}

// Verifies reports whether the opener checks signatures (it has a server key).
func (o *Opener) Verifies() bool { return o.pub != nil }
