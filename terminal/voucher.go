package terminal

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
)

// VoucherID identifies one voucher, unique across the programme.
type VoucherID uint64

// String prints the id as 16 upper-case hex digits.
func (id VoucherID) String() string { return fmt.Sprintf("%016X", uint64(id)) }

// MarshalText encodes the id as 16 hex digits.
func (id VoucherID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes 1 to 16 hex digits.
func (id *VoucherID) UnmarshalText(b []byte) error {
	v, err := parseHex64(b)
	*id = VoucherID(v)
	return err
}

// ParseVoucherID parses a voucher id printed by VoucherID.String.
func ParseVoucherID(s string) (VoucherID, error) {
	var id VoucherID
	err := id.UnmarshalText([]byte(s))
	return id, err
}

// HolderID is the pseudonymous id of the consumer who claimed a voucher: the
// issuing platform's opaque number, never a name or phone number.
type HolderID uint64

// String prints the id as 16 upper-case hex digits.
func (h HolderID) String() string { return fmt.Sprintf("%016X", uint64(h)) }

// MarshalText encodes the id as 16 hex digits.
func (h HolderID) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes 1 to 16 hex digits.
func (h *HolderID) UnmarshalText(b []byte) error {
	v, err := parseHex64(b)
	*h = HolderID(v)
	return err
}

func parseHex64(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 16 {
		return 0, fmt.Errorf("want 1 to 16 hex digits, got %q", b)
	}
	v, err := strconv.ParseUint(string(b), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("want 1 to 16 hex digits, got %q", b)
	}
	return v, nil
}

// KeyID names an issuer key: the first four bytes, big-endian, of the
// SHA-256 of the Ed25519 public key.
type KeyID uint32

// String prints the key id as 8 lower-case hex digits.
func (k KeyID) String() string { return fmt.Sprintf("%08x", uint32(k)) }

// MarshalText encodes the key id as 8 hex digits.
func (k KeyID) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes 1 to 8 hex digits.
func (k *KeyID) UnmarshalText(b []byte) error {
	v, err := parseHex64(b)
	if err != nil || v > 0xffffffff {
		return fmt.Errorf("want 8 hex digits, got %q", b)
	}
	*k = KeyID(v)
	return nil
}

// KeyIDOf returns the key id of an issuer's public key.
func KeyIDOf(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	return KeyID(binary.BigEndian.Uint32(sum[:4]))
}

// Voucher is what a voucher code carries, after decoding.
type Voucher struct {
	Version  uint8     `json:"version"`
	KeyID    KeyID     `json:"key_id"`
	ID       VoucherID `json:"id"`
	Holder   HolderID  `json:"holder"`
	Category Category  `json:"category"`
	// SpendFen is the minimum eligible spend; 0 for love vouchers.
	SpendFen Fen `json:"spend_fen"`
	// OffFen is the discount, or for love vouchers the face value.
	OffFen     Fen       `json:"off_fen"`
	ValidFrom  time.Time `json:"valid_from"`
	ValidUntil time.Time `json:"valid_until"`
	// Region is the administrative division code where the voucher is valid (140521).
	Region   uint32 `json:"region"`
	Campaign uint32 `json:"campaign"`
	Round    uint8  `json:"round"`
}

// Denomination returns the voucher's denomination as the programme lists it.
func (v *Voucher) Denomination() Denomination {
	if v.Category == Love {
		return Denomination{ValueFen: v.OffFen}
	}
	return Denomination{SpendFen: v.SpendFen, OffFen: v.OffFen}
}

// check validates the fields a signature cannot vouch for being sensible.
// The version is its callers' business: Encode sets it, parse rejects any
// other.
func (v *Voucher) check() error {
	switch {
	case !v.Category.Valid():
		return fmt.Errorf("category %d", uint8(v.Category))
	case !v.ValidUntil.After(v.ValidFrom):
		return fmt.Errorf("validity %v..%v is empty", v.ValidFrom, v.ValidUntil)
	case !v.SpendFen.Valid() || !v.OffFen.Valid() || v.OffFen == 0:
		return fmt.Errorf("amounts spend %d off %d", v.SpendFen, v.OffFen)
	case v.Category == Love && v.SpendFen != 0:
		return fmt.Errorf("love voucher with a minimum spend %s", v.SpendFen)
	case v.Category != Love && v.OffFen >= v.SpendFen:
		return fmt.Errorf("discount %s not below minimum spend %s", v.OffFen, v.SpendFen)
	}
	return nil
}
