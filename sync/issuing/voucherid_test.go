package issuing

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/voucherpos/voucherpos/terminal"
)

// TestVoucherID_Unchanged: voucher ids are the same keyed permutation of
// the claim number as before voucherID hashed from the stack (a changed
// permutation could give a number an id given already), and distinct.
func TestVoucherID_Unchanged(t *testing.T) {
	s := &Service{secret: bytes.Repeat([]byte{7}, secretLen)}
	old := func(seq uint64) terminal.VoucherID { // the streaming form, as first written
		l, r := uint32(seq>>32), uint32(seq)
		var buf [4 + 1 + 4]byte
		for i := range 4 {
			copy(buf[:], "vid:")
			buf[4] = byte(i)
			binary.BigEndian.PutUint32(buf[5:], r)
			m := sha256.New()
			m.Write(s.secret)
			m.Write(buf[:])
			f := binary.BigEndian.Uint32(m.Sum(nil))
			l, r = r, l^f
		}
		return terminal.VoucherID(uint64(l)<<32 | uint64(r))
	}
	seen := map[terminal.VoucherID]bool{}
	for _, seq := range []uint64{0, 1, 2, 3, 1000, 1 << 32, 1<<32 + 1, 1<<64 - 1} {
		id := s.voucherID(seq)
		if want := old(seq); id != want {
			t.Errorf("claim %d: voucher id %d, was %d", seq, id, want)
		}
		if seen[id] {
			t.Errorf("claim %d: voucher id %d given twice", seq, id)
		}
		seen[id] = true
	}
}

// TestClaimRequestHash_Unchanged: a request's hash, stored with its claim
// (BodyHash) and compared when its Idempotency-Key comes again, is the same
// as before it was hashed from the stack: a claim made before an upgrade
// must replay after it, not be refused as the key reused.
func TestClaimRequestHash_Unchanged(t *testing.T) {
	old := func(r *ClaimRequest) []byte { // the streaming form, as first written
		h := sha256.New()
		h.Write([]byte(r.Holder))
		var b [1 + 3*8]byte
		b[0] = byte(r.Category)
		binary.BigEndian.PutUint64(b[1:], uint64(r.SpendFen))
		binary.BigEndian.PutUint64(b[9:], uint64(r.OffFen))
		binary.BigEndian.PutUint64(b[17:], uint64(r.FaceFen))
		h.Write(b[:])
		return h.Sum(nil)
	}
	for _, r := range []ClaimRequest{
		{Holder: "h1", Category: terminal.Retail, SpendFen: 20000, OffFen: 4000},
		{Holder: "云闪付用户42", Category: terminal.Love, FaceFen: 100000},
		{Holder: string(bytes.Repeat([]byte{'a'}, terminal.PlatformIDMax)), Category: terminal.Hospitality, SpendFen: -1, OffFen: 1 << 40},
		{Holder: string(bytes.Repeat([]byte{'b'}, terminal.PlatformIDMax+9)), Category: terminal.Retail},
	} {
		if got, want := r.hash(), old(&r); !bytes.Equal(got[:], want) {
			t.Errorf("%+v: hash %x, was %x", r, got, want)
		}
	}
}
