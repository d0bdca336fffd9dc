package boltstore

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// keyFilter is a Bloom filter over the keys of a bucket, kept by the store
// (the only writer of its file), so that a write transaction learns that a
// key is absent without a lookup in a bucket keyed by random ids. A key
// not in the filter is not in the bucket; one in it may not be (a key
// deleted since, or put by a transaction that did not commit): those are
// looked up. Every put into the bucket adds its key first, so the filter
// never lacks one the bucket holds.
//
// Two are kept. The voucher index's (Store.redeemed): a voucher not in it
// has no live redemption in the index (one in the index's log is found in
// memory), so the check of a voucher redeemed for the first time, nearly
// every one a drain brings, is free. The memos' (Store.memoKeys): nearly
// every redemption a drain brings reads its holder's memo at its merchant,
// and most holders have none yet.
type keyFilter struct {
	words []uint64 // a power of two of them
	n     int      // keys added
}

// filterMinBits is the smallest filter (128 KiB); filterBitsPer the bits
// a key gets when it is rebuilt, and it is rebuilt once it holds fewer
// than filterMinPer bits a key (about 2 % false "maybe" then).
var (
	filterMinBits = 1 << 20
	filterBitsPer = 16
	filterMinPer  = 8
)

// buildFilter reads a bucket's keys into a new filter, each hashed by hash
// (nil: not kept, as a voucher index key that is not 8 bytes).
func buildFilter(b *bolt.Bucket, hash func(k []byte) (uint64, bool)) *keyFilter {
	n := b.Stats().KeyN
	size := max(filterMinBits, 1<<bits.Len(uint(n*filterBitsPer)))
	f := &keyFilter{words: make([]uint64, size/64)}
	_ = b.ForEach(func(k, _ []byte) error {
		if h, ok := hash(k); ok {
			f.add(h)
		}
		return nil
	})
	return f
}

// buildVoucherFilter reads the voucher index into a new filter.
func buildVoucherFilter(b *bolt.Bucket) *keyFilter {
	return buildFilter(b, func(k []byte) (uint64, bool) {
		if len(k) != 8 {
			return 0, false
		}
		return voucherHash(terminal.VoucherID(binary.BigEndian.Uint64(k))), true
	})
}

// buildMemoFilter reads the memos' keys into a new filter (memoHash with seed).
func buildMemoFilter(b *bolt.Bucket, seed maphash.Seed) *keyFilter {
	return buildFilter(b, func(k []byte) (uint64, bool) { return maphash.Bytes(seed, k), true })
}

// voucherHash is a voucher's hash in the voucher index's filter: splitmix64,
// as voucher ids may be anything a code says.
func voucherHash(v terminal.VoucherID) uint64 {
	h := uint64(v) + 0x9e3779b97f4a7c15
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}

// memoHash is a memo key's hash in the memos' filter.
func memoHash(seed maphash.Seed, key string) uint64 { return maphash.String(seed, key) }

// full reports whether the filter holds so many keys that it should be rebuilt larger.
func (f *keyFilter) full() bool { return f.n*filterMinPer > len(f.words)*64 }

// probes returns the filter's four bit positions for a key's hash h.
func (f *keyFilter) probes(h uint64) [4]uint64 {
	mask := uint64(len(f.words)*64 - 1)
	h1, h2 := h, h>>32|1
	return [4]uint64{h1 & mask, (h1 + h2) & mask, (h1 + 2*h2) & mask, (h1 + 3*h2) & mask}
}

// add adds the key whose hash is h.
func (f *keyFilter) add(h uint64) {
	for _, p := range f.probes(h) {
		f.words[p/64] |= 1 << (p % 64)
	}
	f.n++
}

// has reports whether the key whose hash is h may be in the bucket (false: it is not).
func (f *keyFilter) has(h uint64) bool {
	for _, p := range f.probes(h) {
		if f.words[p/64]&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}
