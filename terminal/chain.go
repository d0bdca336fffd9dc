package terminal

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// ErrChain is returned when a sealed record does not verify: its hash is not
// ChainHash of its fields, its signature is not the terminal's, or it does
// not continue the chain (a gap in the sequence, or Prev is not the previous
// record's Hash). A deleted, reordered or altered record gives ErrChain.
var ErrChain = errors.New("record chain broken")

// A terminal's chain starts at sequence 0 with the zero hash: the first
// record (Seq 1) has Prev == [32]byte{}.

// Seal seals body as the record with seq following prev: it computes the
// chain hash and signs it with the terminal's key.
func Seal(key ed25519.PrivateKey, prev [32]byte, seq uint64, body []byte) Sealed {
	h := ChainHash(prev, seq, body)
	return Sealed{Seq: seq, Body: body, Prev: prev, Hash: h, Sig: ed25519.Sign(key, h[:])}
}

// Check verifies s on its own: Hash is ChainHash(Prev, Seq, Body) and Sig is
// pub's signature over Hash. It does not check s's place in the chain.
func (s *Sealed) Check(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("seq %d: terminal key has %d bytes: %w", s.Seq, len(pub), ErrChain)
	}
	if ChainHash(s.Prev, s.Seq, s.Body) != s.Hash {
		return fmt.Errorf("seq %d: hash does not match the record: %w", s.Seq, ErrChain)
	}
	if len(s.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, s.Hash[:], s.Sig) {
		return fmt.Errorf("seq %d: bad terminal signature: %w", s.Seq, ErrChain)
	}
	return nil
}

// VerifyChain checks that recs continue a terminal's chain whose last
// verified record had sequence after and hash prev (0 and the zero hash for
// a chain from its start): sequences follow one another without a gap, each
// record's Prev is the previous record's Hash, and each passes Check with
// the terminal's public key. It returns the sequence and hash of the last
// record verified, so a long chain can be checked in pieces; on error, those
// of the last good record.
func VerifyChain(pub ed25519.PublicKey, after uint64, prev [32]byte, recs []Sealed) (uint64, [32]byte, error) {
	for i := range recs {
		s := &recs[i]
		if s.Seq != after+1 {
			return after, prev, fmt.Errorf("seq %d follows seq %d: %w", s.Seq, after, ErrChain)
		}
		if s.Prev != prev {
			return after, prev, fmt.Errorf("seq %d: previous hash does not match seq %d: %w", s.Seq, after, ErrChain)
		}
		if err := s.Check(pub); err != nil {
			return after, prev, err
		}
		after, prev = s.Seq, s.Hash
	}
	return after, prev, nil
}
