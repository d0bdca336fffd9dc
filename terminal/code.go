package terminal

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"time"
)

// The voucher code, version 1 (docs/voucher-code.md):
//
//	code    = "VC1:" base45(payload || signature)
//	payload = 47 bytes, big-endian:
//	  0  version      u8   (1)
//	  1  key id       u32  (first 4 bytes of SHA-256 of the issuer's public key)
//	  5  voucher id   u64
//	  13 holder id    u64
//	  21 category     u8   (1 retail, 2 fuel, 3 appliance, 4 hospitality, 5 love)
//	  22 spend        u32  fen (0 for love)
//	  26 off          u32  fen (face value for love)
//	  30 valid from   u32  Unix seconds
//	  34 valid until  u32  Unix seconds (exclusive)
//	  38 region       u32  administrative division code
//	  42 campaign     u32
//	  46 round        u8
//	signature = Ed25519(issuer key, "VC1:" || payload), 64 bytes
const (
	// CodePrefix starts every version-1 voucher code.
	CodePrefix = "VC1:"
	// CodeVersion is the version byte of the payload.
	CodeVersion = 1
	// PayloadLen is the length of the signed payload.
	PayloadLen = 47
	// RawLen is the length of payload and signature together.
	RawLen = PayloadLen + ed25519.SignatureSize
	// CodeLen is the length of every version-1 code in characters.
	CodeLen = len(CodePrefix) + RawLen/2*3 + RawLen%2*2
)

// rawCode is a decoded code: the prefix (part of the signed message), the
// payload and the signature, contiguous so the signed message is one slice.
type rawCode [len(CodePrefix) + RawLen]byte

func (r *rawCode) message() []byte   { return r[:len(CodePrefix)+PayloadLen] }
func (r *rawCode) signature() []byte { return r[len(CodePrefix)+PayloadLen:] }
func (r *rawCode) payload() []byte   { return r[len(CodePrefix) : len(CodePrefix)+PayloadLen] }

// Encode returns the voucher's signed code. The key id is taken from priv.
func Encode(v Voucher, priv ed25519.PrivateKey) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("encode voucher: bad private key")
	}
	return EncodeWith(v, priv.Public().(ed25519.PublicKey), func(msg []byte) []byte { return ed25519.Sign(priv, msg) })
}

// EncodeWith is Encode for a signer that keeps the private key its own way
// (sync/issuing signs with nonces made before the drop): sign must return
// the Ed25519 signature of msg by the private half of pub, which gives the
// key id.
func EncodeWith(v Voucher, pub ed25519.PublicKey, sign func(msg []byte) []byte) (string, error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("encode voucher: bad public key")
	}
	v.Version = CodeVersion
	v.KeyID = KeyIDOf(pub)
	if err := v.check(); err != nil {
		return "", fmt.Errorf("encode voucher: %w", err)
	}
	if !fitsU32(v.ValidFrom) || !fitsU32(v.ValidUntil) {
		return "", fmt.Errorf("encode voucher: validity outside 1970..2106")
	}
	var r rawCode
	copy(r[:], CodePrefix)
	p := r.payload()
	p[0] = v.Version
	binary.BigEndian.PutUint32(p[1:], uint32(v.KeyID))
	binary.BigEndian.PutUint64(p[5:], uint64(v.ID))
	binary.BigEndian.PutUint64(p[13:], uint64(v.Holder))
	p[21] = byte(v.Category)
	binary.BigEndian.PutUint32(p[22:], uint32(v.SpendFen))
	binary.BigEndian.PutUint32(p[26:], uint32(v.OffFen))
	binary.BigEndian.PutUint32(p[30:], uint32(v.ValidFrom.Unix()))
	binary.BigEndian.PutUint32(p[34:], uint32(v.ValidUntil.Unix()))
	binary.BigEndian.PutUint32(p[38:], v.Region)
	binary.BigEndian.PutUint32(p[42:], v.Campaign)
	p[46] = v.Round
	sig := sign(r.message())
	if len(sig) != ed25519.SignatureSize {
		return "", fmt.Errorf("encode voucher: signature of %d bytes", len(sig))
	}
	copy(r.signature(), sig)
	var buf [CodeLen]byte // on the stack: the string is the one allocation
	out := append(buf[:0], CodePrefix...)
	out = appendBase45(out, r[len(CodePrefix):])
	return string(out), nil
}

func fitsU32(t time.Time) bool { u := t.Unix(); return u >= 0 && u <= 0xffffffff }

// parse decodes the text of a code into r and the voucher's fields, without
// checking the signature. Errors are *Error with code Malformed.
func parse(s string, r *rawCode, v *Voucher) *Error {
	if len(s) != CodeLen || s[:len(CodePrefix)] != CodePrefix {
		if len(s) > len(CodePrefix) && s[:len(CodePrefix)] == CodePrefix {
			return Errorf(Malformed, "length %d, want %d", len(s), CodeLen)
		}
		return Errorf(Malformed, "no %q prefix", CodePrefix)
	}
	copy(r[:], CodePrefix)
	if err := decodeBase45(r[len(CodePrefix):], s[len(CodePrefix):]); err != nil {
		return Errorf(Malformed, "%v", err)
	}
	p := r.payload()
	*v = Voucher{
		Version:    p[0],
		KeyID:      KeyID(binary.BigEndian.Uint32(p[1:])),
		ID:         VoucherID(binary.BigEndian.Uint64(p[5:])),
		Holder:     HolderID(binary.BigEndian.Uint64(p[13:])),
		Category:   Category(p[21]),
		SpendFen:   Fen(binary.BigEndian.Uint32(p[22:])),
		OffFen:     Fen(binary.BigEndian.Uint32(p[26:])),
		ValidFrom:  time.Unix(int64(binary.BigEndian.Uint32(p[30:])), 0),
		ValidUntil: time.Unix(int64(binary.BigEndian.Uint32(p[34:])), 0),
		Region:     binary.BigEndian.Uint32(p[38:]),
		Campaign:   binary.BigEndian.Uint32(p[42:]),
		Round:      p[46],
	}
	if v.Version != CodeVersion {
		return Errorf(Malformed, "version %d", v.Version)
	}
	return nil
}

// ParseCode decodes a code's fields without verifying its signature. It is
// for display and diagnostics only: never redeem what it returns.
func ParseCode(s string) (Voucher, error) {
	var r rawCode
	var v Voucher
	if err := parse(s, &r, &v); err != nil {
		return Voucher{}, err
	}
	return v, nil
}

// Verify decodes a code and checks its signature against the keyring. It
// returns a *Error with code Malformed, UnknownKey or BadSignature on failure.
func (k *Keyring) Verify(s string) (Voucher, error) {
	var v Voucher
	if err := k.verify(s, &v, nil, nil); err != nil {
		return Voucher{}, err
	}
	return v, nil
}

// DecodedCode is a code's text decoded ahead of its decision. Decoding
// depends on the text alone, so a server decodes a batch's codes on the
// connection's reader while its committer decides the batch before
// (Sender.Code, Request.Decoded). Nothing in it is trusted: the decision
// checks the code's signature, or compares it with the minted code, and
// every rule, as for a code decoded there.
type DecodedCode struct {
	text    string
	raw     rawCode
	v       Voucher
	err     *Error
	decoded bool
}

// Decode decodes the code s into c.
func (c *DecodedCode) Decode(s string) {
	c.text, c.decoded = s, true
	c.err = parse(s, &c.raw, &c.v)
}

// Of reports whether c holds the code s decoded (false for a nil c).
func (c *DecodedCode) Of(s string) bool { return c != nil && c.decoded && c.text == s }

// MintedCodes is an issuer's own record of the codes it minted (the
// server's ledger keeps every code it mints).
type MintedCodes interface {
	// MintedCode returns the code minted for voucher id; ok false if this
	// issuer minted none.
	MintedCode(id VoucherID) (code string, ok bool)
}

// verify decodes s into v and checks that it is genuine: with minted set,
// a code minted there must be the very code minted (a comparison instead
// of an Ed25519 verification); any other code's signature must verify
// against the ring.
func (k *Keyring) verify(s string, v *Voucher, minted MintedCodes, dc *DecodedCode) *Error {
	var r *rawCode
	if dc.Of(s) {
		if dc.err != nil {
			return dc.err
		}
		r, *v = &dc.raw, dc.v
	} else {
		r = new(rawCode)
		if err := parse(s, r, v); err != nil {
			return err
		}
	}
	pub := k.Lookup(v.KeyID)
	if pub == nil {
		return Errorf(UnknownKey, "key id %s", v.KeyID)
	}
	var want string
	ok := false
	if minted != nil {
		want, ok = minted.MintedCode(v.ID)
	}
	switch {
	case ok && want != s:
		return Errorf(BadSignature, "voucher %s: the code differs from the one minted", v.ID)
	case !ok && !ed25519.Verify(pub, r.message(), r.signature()):
		return Errorf(BadSignature, "voucher %s key %s", v.ID, v.KeyID)
	}
	if err := v.check(); err != nil {
		return Errorf(Malformed, "%v", err)
	}
	return nil
}
