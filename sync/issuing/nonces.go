package issuing

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"time"

	"filippo.io/edwards25519"
)

// Signing a claimed voucher with a nonce made before the drop.
//
// An Ed25519 signature of message M by the key with secret scalar a and
// public key A is (R, S) with R = r·B and S = r + H(R‖A‖M)·a mod L, for a
// nonce r. crypto/ed25519 derives r from H(prefix‖M), so R can only be
// computed once M is known, and computing R (a scalar multiplication of the
// base point, and its encoding) is about nine tenths of a signature. The
// verifier (crypto/ed25519.Verify at the till, unchanged) checks
// S·B = R + H(R‖A‖M)·A and cannot tell how r was chosen: any r that is
// secret, uniform and used for one message only makes a valid signature.
// So the service makes nonces (r, R) ahead, while no claims are coming, and
// at a claim computes only the hash and S. Such a signature cannot be made
// again (r is gone), so the claim stores it (Claim.Sig) in its group commit
// and every later answer (a replay, the wallet) shows the same code.
//
// A nonce must never sign two messages: from S1 = r + k1·a and
// S2 = r + k2·a anyone computes a = (S1 − S2)/(k1 − k2), the issuing key.
// So r is drawn from crypto/rand (hedged with the key's secret prefix, so a
// weak random source alone does not reveal it), kept only in memory (the
// channel below, never stored or logged), taken from the channel by exactly
// one receiver (a channel hands each value to one receiver) and wiped once
// used. When the pool is empty a claim is signed the ordinary way
// (ed25519.Sign, deterministic, after the commit, nothing stored), never by
// reusing a nonce.

// DefaultNonces is how many nonces the service keeps ready at most (64
// bytes each). It makes ahead as many as the drops not yet over can still
// issue, up to this.
const DefaultNonces = 1 << 16

// nonceQuiet is how long the service must have decided no claim before it
// makes nonces again: during a stampede the cores go to the claims.
const nonceQuiet = 200 * time.Millisecond

// nonceBatch is how many nonces are made between checks for claims.
const nonceBatch = 64

// nonce is r and its commitment R = r·B, encoded.
type nonce struct {
	r edwards25519.Scalar
	R [32]byte
}

// nonces is the pool of nonces made ahead.
type nonces struct {
	pool  chan nonce
	taken chan struct{} // a nonce was taken (capacity 1)
	kick  chan struct{} // the need may have changed (capacity 1)
}

func newNonces(n int) *nonces {
	return &nonces{pool: make(chan nonce, n), taken: make(chan struct{}, 1), kick: make(chan struct{}, 1)}
}

// poke sends on a capacity-1 channel without blocking.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// expand returns the secret scalar a and the nonce prefix of priv, as
// RFC 8032 derives them from the seed.
func expand(priv ed25519.PrivateKey) (*edwards25519.Scalar, [32]byte) {
	h := sha512.Sum512(priv.Seed())
	defer clear(h[:])
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		panic("issuing: clamping 32 bytes failed") // SetBytesWithClamping fails only on a length other than 32
	}
	var prefix [32]byte
	copy(prefix[:], h[32:])
	return a, prefix
}

// makeNonce returns a fresh nonce: r = H(prefix ‖ 64 random bytes) mod L.
func makeNonce(prefix *[32]byte) nonce {
	var seed [64]byte
	rand.Read(seed[:]) // never fails: the program crashes first (crypto/rand)
	h := sha512.New()
	h.Write(prefix[:])
	h.Write(seed[:])
	var sum [64]byte
	var n nonce
	if _, err := n.r.SetUniformBytes(h.Sum(sum[:0])); err != nil {
		panic("issuing: reducing 64 bytes failed") // SetUniformBytes fails only on a length other than 64
	}
	clear(seed[:])
	clear(sum[:])
	copy(n.R[:], new(edwards25519.Point).ScalarBaseMult(&n.r).Bytes())
	return n
}

// take returns a nonce of the pool, if there is one.
func (p *nonces) take() (nonce, bool) {
	select {
	case n := <-p.pool:
		poke(p.taken)
		return n, true
	default:
		return nonce{}, false
	}
}

// signWith returns the Ed25519 signature of msg by priv with nonce n, and
// wipes n's secret: a nonce signs once.
func signWith(n *nonce, priv ed25519.PrivateKey, msg []byte) []byte {
	k := expandKey(priv)
	defer k.wipe()
	return k.sign(n, msg)
}

// expandedKey is a signing key expanded once (the secret scalar a: a
// SHA-512 of the seed) for the signatures of one group commit.
type expandedKey struct {
	a   *edwards25519.Scalar
	pub ed25519.PublicKey
}

func expandKey(priv ed25519.PrivateKey) *expandedKey {
	a, prefix := expand(priv)
	clear(prefix[:])
	return &expandedKey{a: a, pub: priv.Public().(ed25519.PublicKey)}
}

// wipe clears the secret scalar once the group is signed.
func (k *expandedKey) wipe() { *k.a = edwards25519.Scalar{} }

// sign is signWith with the key expanded already.
func (k *expandedKey) sign(n *nonce, msg []byte) []byte {
	// A wiped nonce has r = 0, and S = H(R‖A‖M)·a would give the key away:
	// signing with a used (or never made) nonce is a bug, never a signature.
	if n.r.Equal(edwards25519.NewScalar()) == 1 {
		panic("issuing: a nonce signs once")
	}
	// A wiped key would sign with a = 0: a bug, never a signature.
	if k.a.Equal(edwards25519.NewScalar()) == 1 {
		panic("issuing: signing with a wiped key")
	}
	// H(R‖A‖M), hashed from the stack (a code's message is 51 bytes).
	var buf [32 + ed25519.PublicKeySize + 64]byte
	in := append(append(append(buf[:0], n.R[:]...), k.pub...), msg...)
	sum := sha512.Sum512(in)
	e, err := edwards25519.NewScalar().SetUniformBytes(sum[:])
	if err != nil {
		panic("issuing: reducing 64 bytes failed")
	}
	s := edwards25519.NewScalar().MultiplyAdd(e, k.a, &n.r)
	sig := make([]byte, 0, ed25519.SignatureSize)
	sig = append(append(sig, n.R[:]...), s.Bytes()...)
	n.r = edwards25519.Scalar{}
	return sig
}

// fill keeps the pool at need() nonces (at most its capacity), making them
// only while busy() is false, until ctx ends.
func (p *nonces) fill(ctx context.Context, key func() ed25519.PrivateKey, need func() int, busy func() bool) {
	for ctx.Err() == nil {
		if len(p.pool) >= min(need(), cap(p.pool)) {
			select {
			case <-p.taken:
			case <-p.kick:
			case <-ctx.Done():
			}
			continue
		}
		if busy() {
			select {
			case <-time.After(nonceQuiet):
			case <-ctx.Done():
			}
			continue
		}
		_, prefix := expand(key())
	batch:
		for range nonceBatch {
			if busy() {
				break batch
			}
			select {
			case p.pool <- makeNonce(&prefix):
			default:
				break batch
			}
		}
		clear(prefix[:])
	}
}
