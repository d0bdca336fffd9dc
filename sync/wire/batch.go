package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/voucherpos/voucherpos/terminal"
)

// A batch frame is a binary websocket message carrying sealed records, so
// bodies cross the wire byte-exact without base64 or JSON escaping:
//
//	"VPB1"  magic
//	count   u16 big-endian, 1..MaxBatch
//	count × record:
//	  seq     u64
//	  prev    [32]
//	  hash    [32]
//	  siglen  u8, sig
//	  bodylen u32, body (≤ MaxBody)
const batchMagic = "VPB1"

// ErrBatch is returned when a batch frame is malformed.
var ErrBatch = errors.New("malformed batch frame")

// AppendBatch appends the batch frame of recs to b.
func AppendBatch(b []byte, recs []terminal.Sealed) ([]byte, error) {
	if len(recs) == 0 || len(recs) > MaxBatch {
		return b, fmt.Errorf("%w: %d records", ErrBatch, len(recs))
	}
	size := len(batchMagic) + 2
	for i := range recs {
		size += 8 + 32 + 32 + 1 + len(recs[i].Sig) + 4 + len(recs[i].Body)
	}
	b = slices.Grow(b, size)
	b = append(b, batchMagic...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(recs)))
	for i := range recs {
		r := &recs[i]
		if len(r.Sig) > 255 || len(r.Body) > MaxBody {
			return b, fmt.Errorf("%w: seq %d: signature %d or body %d bytes too long", ErrBatch, r.Seq, len(r.Sig), len(r.Body))
		}
		b = binary.BigEndian.AppendUint64(b, r.Seq)
		b = append(b, r.Prev[:]...)
		b = append(b, r.Hash[:]...)
		b = append(b, byte(len(r.Sig)))
		b = append(b, r.Sig...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.Body)))
		b = append(b, r.Body...)
	}
	return b, nil
}

// DecodeBatch parses a batch frame. The records' Body and Sig alias b. It
// checks the framing and that sequences increase by one; it never panics.
func DecodeBatch(b []byte) ([]terminal.Sealed, error) {
	if len(b) < 6 || string(b[:4]) != batchMagic {
		return nil, fmt.Errorf("%w: no magic", ErrBatch)
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if n == 0 || n > MaxBatch {
		return nil, fmt.Errorf("%w: %d records", ErrBatch, n)
	}
	b = b[6:]
	recs := make([]terminal.Sealed, n)
	for i := range recs {
		r := &recs[i]
		if len(b) < 8+32+32+1 {
			return nil, fmt.Errorf("%w: record %d truncated", ErrBatch, i)
		}
		r.Seq = binary.BigEndian.Uint64(b)
		copy(r.Prev[:], b[8:40])
		copy(r.Hash[:], b[40:72])
		sl := int(b[72])
		b = b[73:]
		if len(b) < sl+4 {
			return nil, fmt.Errorf("%w: record %d truncated", ErrBatch, i)
		}
		r.Sig = b[:sl:sl]
		bl := binary.BigEndian.Uint32(b[sl:])
		b = b[sl+4:]
		if bl > MaxBody || uint64(len(b)) < uint64(bl) {
			return nil, fmt.Errorf("%w: record %d body of %d bytes", ErrBatch, i, bl)
		}
		r.Body = b[:bl:bl]
		b = b[bl:]
		if r.Seq == 0 || (i > 0 && r.Seq != recs[i-1].Seq+1) {
			return nil, fmt.Errorf("%w: record %d has seq %d", ErrBatch, i, r.Seq)
		}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBatch, len(b))
	}
	return recs, nil
}
