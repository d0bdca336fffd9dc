package boltstore

import (
	"encoding/binary"
	"math/bits"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// voucherFilter is a Bloom filter over the keys of the voucher index, kept
// by the store (the only writer of its file): a voucher not in it has no
// live redemption in the index (one in the index's log is found in
// memory), so the check of a voucher redeemed for the first time (nearly
// every one a drain brings) needs no lookup in an index keyed by random ids. It may hold vouchers the index does not (a redemption
// cleared by a refund, or put by a transaction that did not commit):
// those are looked up. Every put into the index adds its voucher first,
// so it never lacks one the index holds.
type voucherFilter struct {
	words []uint64 // a power of two of them
	n     int      // vouchers added
}

// filterMinBits is the smallest filter (128 KiB); filterBitsPer the bits
// a voucher gets when it is rebuilt, and it is rebuilt once it holds
// fewer than filterMinPer bits a voucher (about 2 % false "maybe" then).
var (
	filterMinBits = 1 << 20
	filterBitsPer = 16
	filterMinPer  = 8
)

// buildFilter reads the voucher index into a new filter.
func buildFilter(b *bolt.Bucket) *voucherFilter {
	n := b.Stats().KeyN
	size := max(filterMinBits, 1<<bits.Len(uint(n*filterBitsPer)))
	f := &voucherFilter{words: make([]uint64, size/64)}
	_ = b.ForEach(func(k, _ []byte) error {
		if len(k) == 8 {
			f.add(terminal.VoucherID(binary.BigEndian.Uint64(k)))
		}
		return nil
	})
	return f
}

// full reports whether the filter holds so many vouchers that it should be rebuilt larger.
func (f *voucherFilter) full() bool { return f.n*filterMinPer > len(f.words)*64 }

// probes returns the filter's four bit positions for v.
func (f *voucherFilter) probes(v terminal.VoucherID) [4]uint64 {
	h := uint64(v) + 0x9e3779b97f4a7c15 // splitmix64: voucher ids may be anything a code says
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	h ^= h >> 31
	mask := uint64(len(f.words)*64 - 1)
	h1, h2 := h, h>>32|1
	return [4]uint64{h1 & mask, (h1 + h2) & mask, (h1 + 2*h2) & mask, (h1 + 3*h2) & mask}
}

func (f *voucherFilter) add(v terminal.VoucherID) {
	for _, p := range f.probes(v) {
		f.words[p/64] |= 1 << (p % 64)
	}
	f.n++
}

// has reports whether v may be in the index (false: it is not).
func (f *voucherFilter) has(v terminal.VoucherID) bool {
	for _, p := range f.probes(v) {
		if f.words[p/64]&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}
