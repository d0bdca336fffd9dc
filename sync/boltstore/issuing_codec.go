package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// claimV1 starts a claim stored in binary (encodeClaim). Claims stored
// before it are JSON (they start with '{') and are still read; a claim
// whose fields do not fit the binary form (none the service makes) is
// stored as JSON too.
const claimV1 = 1

// encodeClaim: 1 ‖ seq u64 ‖ keylen u8 ‖ key ‖ hashlen u8 ‖ hash ‖
// roundlen u8 ‖ round id ‖ drop u64 ‖ key id u32 ‖ voucher (version u8 ‖
// key id u32 ‖ id u64 ‖ holder u64 ‖ category u8 ‖ spend i64 ‖ off i64 ‖
// valid from ‖ valid until ‖ region u32 ‖ campaign u32 ‖ round u8) ‖
// siglen u8 ‖ sig ‖ at ‖ statuslen u8 ‖ status; each time is Unix seconds
// i64 ‖ nanoseconds u32. It is about a tenth of json.Marshal's cost, which
// was a quarter of the claim committer's (docs/issuing.md, "Speed").
func encodeClaim(c *issuing.Claim) ([]byte, error) {
	short := func(n int) bool { return n <= math.MaxUint8 }
	if !short(len(c.Key)) || !short(len(c.BodyHash)) || !short(len(c.RoundID)) || !short(len(c.Sig)) || !short(len(c.Status)) {
		return json.Marshal(c)
	}
	v := &c.Voucher
	b := make([]byte, 0, 1+8+1+len(c.Key)+1+len(c.BodyHash)+1+len(c.RoundID)+8+4+
		1+4+8+8+1+8+8+12+12+4+4+1+1+len(c.Sig)+12+1+len(c.Status))
	b = append(b, claimV1)
	b = binary.BigEndian.AppendUint64(b, c.Seq)
	b = appendShort(b, c.Key)
	b = appendShort(b, string(c.BodyHash))
	b = appendShort(b, c.RoundID)
	b = binary.BigEndian.AppendUint64(b, c.Drop)
	b = binary.BigEndian.AppendUint32(b, uint32(c.KeyID))
	b = append(b, v.Version)
	b = binary.BigEndian.AppendUint32(b, uint32(v.KeyID))
	b = binary.BigEndian.AppendUint64(b, uint64(v.ID))
	b = binary.BigEndian.AppendUint64(b, uint64(v.Holder))
	b = append(b, byte(v.Category))
	b = binary.BigEndian.AppendUint64(b, uint64(v.SpendFen))
	b = binary.BigEndian.AppendUint64(b, uint64(v.OffFen))
	b = appendTime(b, v.ValidFrom)
	b = appendTime(b, v.ValidUntil)
	b = binary.BigEndian.AppendUint32(b, v.Region)
	b = binary.BigEndian.AppendUint32(b, v.Campaign)
	b = append(b, v.Round)
	b = appendShort(b, string(c.Sig))
	b = appendTime(b, c.At)
	b = appendShort(b, string(c.Status))
	return b, nil
}

func appendShort(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// zeroUnix is the zero time.Time's Unix seconds.
var zeroUnix = time.Time{}.Unix()

func (r *reader) u32() uint32 {
	v := r.take(4)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

// time reads a time of appendTime, in UTC+8 as the programme shows it (the
// zero time stays zero).
func (r *reader) time() time.Time {
	sec, nsec := int64(r.u64()), int64(r.u32())
	if sec == zeroUnix && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, nsec).In(terminal.Zone)
}

// decodeClaim decodes a stored claim of either form; key is its bucket key
// (the seq), for errors. A value that does not decode is ErrDamaged.
func decodeClaim(key, v []byte, c *issuing.Claim) error {
	if len(v) == 0 || v[0] != claimV1 {
		if err := json.Unmarshal(v, c); err != nil {
			return fmt.Errorf("%w: claim %x: %v", ErrDamaged, key, err)
		}
		return nil
	}
	rd := &reader{b: v[1:]}
	c.Seq = rd.u64()
	c.Key = string(rd.take(rd.u8()))
	if h := rd.take(rd.u8()); len(h) > 0 {
		c.BodyHash = append([]byte(nil), h...)
	}
	c.RoundID = string(rd.take(rd.u8()))
	c.Drop = rd.u64()
	c.KeyID = terminal.KeyID(rd.u32())
	cv := &c.Voucher
	cv.Version = uint8(rd.u8())
	cv.KeyID = terminal.KeyID(rd.u32())
	cv.ID = terminal.VoucherID(rd.u64())
	cv.Holder = terminal.HolderID(rd.u64())
	cv.Category = terminal.Category(rd.u8())
	cv.SpendFen = terminal.Fen(rd.u64())
	cv.OffFen = terminal.Fen(rd.u64())
	cv.ValidFrom = rd.time()
	cv.ValidUntil = rd.time()
	cv.Region = rd.u32()
	cv.Campaign = rd.u32()
	cv.Round = uint8(rd.u8())
	if s := rd.take(rd.u8()); len(s) > 0 {
		c.Sig = append([]byte(nil), s...)
	}
	c.At = rd.time()
	c.Status = terminal.ClaimStatus(rd.take(rd.u8()))
	if rd.bad || len(rd.b) != 0 {
		return fmt.Errorf("%w: claim %x of %d bytes", ErrDamaged, key, len(v))
	}
	return nil
}

// claimIndexed returns what the in-memory indexes need of a stored claim
// of either form: its holder and idempotency key.
func claimIndexed(key, v []byte) (terminal.HolderID, string, error) {
	if len(v) > 0 && v[0] == claimV1 {
		rd := &reader{b: v[1:]}
		rd.take(8) // seq
		k := rd.take(rd.u8())
		rd.take(rd.u8())           // body hash
		rd.take(rd.u8())           // round id
		rd.take(8 + 4 + 1 + 4 + 8) // drop, key id, version, voucher key id, voucher id
		h := terminal.HolderID(rd.u64())
		if rd.bad {
			return 0, "", fmt.Errorf("%w: claim %x of %d bytes", ErrDamaged, key, len(v))
		}
		return h, string(k), nil
	}
	var c struct {
		Key     string `json:"key"`
		Voucher struct {
			Holder terminal.HolderID `json:"holder"`
		} `json:"voucher"`
	}
	if err := json.Unmarshal(v, &c); err != nil {
		return 0, "", fmt.Errorf("%w: claim %x: %v", ErrDamaged, key, err)
	}
	return c.Voucher.Holder, c.Key, nil
}
