package boltstore

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzMemoLogValue: a value of the log of expiring memos that does not
// decode is ErrDamaged, never a panic; the entries of one that decodes,
// encoded again, decode to the same entries (a length may have been
// written longer than it need be: 80 00 for 0).
func FuzzMemoLogValue(f *testing.F) {
	v := appendMemoEntry(nil, "holder/M1/00000000000000A1", []byte{1, 2, 3}, false)
	v = appendMemoEntry(v, "holder/M1/00000000000000A2", nil, true)
	v = appendMemoEntry(v, "holder/M2/00000000000000A1", []byte{}, false)
	f.Add(v)
	for n := range v {
		f.Add(v[:n])
	}
	f.Add([]byte{0})
	f.Add([]byte{1, 'k', 9, 'v'})
	f.Fuzz(func(t *testing.T, val []byte) {
		encode := func(val []byte) ([]byte, error) {
			var out []byte
			err := eachMemoEntry([]byte("k"), val, func(key string, v []byte, deleted bool) {
				out = appendMemoEntry(out, key, v, deleted)
			})
			return out, err
		}
		again, err := encode(val)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error %v, want ErrDamaged", err)
			}
			return
		}
		if twice, err := encode(again); err != nil || !bytes.Equal(twice, again) {
			t.Fatalf("%x decoded and encoded again is %x, which decodes to %x (%v)", val, again, twice, err)
		}
	})
}
