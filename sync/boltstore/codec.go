package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// Buckets of the ledger. Keys are documented beside each.
var (
	bMeta      = []byte("meta")      // kIssuer → issuing key seed; kParams → JSON terminal.Params; kCurrent
	bMerchants = []byte("merchants") // merchant id → JSON terminal.Merchant
	bTerminals = []byte("terminals") // terminal id → JSON hub.TerminalRecord
	bHeads     = []byte("heads")     // terminal id → watermark u64 ‖ hash of that record [32]
	bRecords   = []byte("records")   // terminal id ‖ 0 ‖ seq u64 → stored record (appendRecord)
	bDays      = []byte("days")      // "YYYYMMDD" ‖ record key → last seq u64 of the run of that chain and UTC+8 day it starts, or empty for one record (Store.DayRecords)
	bVouchers  = []byte("vouchers")  // voucher id u64 → record id of its one accepted, live redemption, unless in bVoucherLog (voucherlog.go)
	bConflicts = []byte("conflicts") // sequence u64 → JSON hub.Conflict
	bMinted    = []byte("minted")    // voucher id u64 → code minted by this hub
	bRevoked   = []byte("revoked")   // voucher id u64 → Unix seconds of the revocation
	bHolds     = []byte("holds")     // voucher id u64 → JSON hub.Hold
	bKeys      = []byte("keys")      // key id u32 → issuing key seed (all trusted)
	bMemos     = []byte("memos")     // memo key → the hub's value (hub.Tx.Memo)

	allBuckets = [][]byte{bMeta, bMerchants, bTerminals, bHeads, bRecords, bDays, bVouchers, bConflicts, bMinted, bRevoked, bHolds, bKeys, bMemos}

	kIssuer  = []byte("issuer")
	kParams  = []byte("params")
	kCurrent = []byte("current_key") // key id u32 of the key minting now (absent: the identity key)
)

// ErrDamaged is returned when the ledger file is damaged: a page bbolt
// cannot read, a value that does not decode. The file needs `voucherd
// check` and a restore from a backup.
var ErrDamaged = errors.New("ledger damaged")

// recordV2 starts a record stored with its query fields. Records stored
// before it start with their result byte ('A' or 'C') and have only
// result ‖ hash [32] ‖ siglen u8 ‖ sig ‖ detaillen u16 ‖ detail ‖ body;
// their query fields are read from the body.
const recordV2 = 2

// A stored record: 2 ‖ result ‖ hash [32] ‖ siglen u8 ‖ sig ‖ detaillen u16 ‖
// detail ‖ merchantlen u8 ‖ merchant ‖ at Unix ns i64 ‖ kindlen u8 ‖ kind ‖
// voucher u64 ‖ body (appendRecord).

// recordSize is the length of r stored.
func recordSize(r *hub.StoredRecord) int {
	return 2 + 32 + 1 + len(r.Sig) + 2 + min(len(r.Detail), 0xffff) + 1 + len(r.MerchantID) + 8 + 1 + len(r.Kind) + 8 + len(r.Body)
}

// appendRecord appends r stored to b.
func appendRecord(b []byte, r *hub.StoredRecord) []byte {
	detail := r.Detail
	if len(detail) > 0xffff {
		detail = detail[:0xffff]
	}
	b = append(b, recordV2, resultByte(r.Result))
	b = append(b, r.Hash[:]...)
	b = append(b, byte(len(r.Sig)))
	b = append(b, r.Sig...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(detail)))
	b = append(b, detail...)
	b = append(b, byte(len(r.MerchantID)))
	b = append(b, r.MerchantID...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.At.UnixNano()))
	b = append(b, byte(len(r.Kind)))
	b = append(b, r.Kind...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Voucher))
	return append(b, r.Body...)
}

// reader takes fields off a stored value; a short value sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int {
	v := r.take(1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (r *reader) u16() int {
	v := r.take(2)
	if v == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(v))
}

func (r *reader) u64() uint64 {
	v := r.take(8)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// decodeRecord decodes a stored record of terminal term at seq. The
// returned record's slices alias v: valid for the transaction only.
func decodeRecord(term string, seq uint64, v []byte) (hub.StoredRecord, error) {
	rec := hub.StoredRecord{TerminalID: term, Seq: seq}
	if len(v) == 0 {
		return rec, fmt.Errorf("%w: record %s missing", ErrDamaged, rec.ID())
	}
	rd := &reader{b: v}
	v2 := v[0] == recordV2
	if v2 {
		rd.take(1)
	}
	rec.Result = byteResult(rd.u8())
	copy(rec.Hash[:], rd.take(32))
	rec.Sig = rd.take(rd.u8())
	rec.Detail = string(rd.take(rd.u16()))
	if v2 {
		rec.MerchantID = string(rd.take(rd.u8()))
		rec.At = time.Unix(0, int64(rd.u64()))
		rec.Kind = terminal.Kind(rd.take(rd.u8()))
		rec.Voucher = terminal.VoucherID(rd.u64())
	}
	if rd.bad || rec.Result == "" {
		return rec, fmt.Errorf("%w: record %s of %d bytes", ErrDamaged, rec.ID(), len(v))
	}
	rec.Body = rd.b
	if !v2 {
		var m struct {
			Kind       terminal.Kind `json:"kind"`
			MerchantID string        `json:"merchant_id"`
			At         time.Time     `json:"at"`
			Voucher    struct {
				ID terminal.VoucherID `json:"id"`
			} `json:"voucher"`
		}
		if err := json.Unmarshal(rec.Body, &m); err != nil {
			return rec, fmt.Errorf("%w: record %s: %v", ErrDamaged, rec.ID(), err)
		}
		rec.Kind, rec.MerchantID, rec.At, rec.Voucher = m.Kind, m.MerchantID, m.At, m.Voucher.ID
	}
	return rec, nil
}

func resultByte(r terminal.Result) byte {
	switch r {
	case terminal.Accepted:
		return 'A'
	case terminal.Conflict:
		return 'C'
	}
	return '?'
}

func byteResult(b int) terminal.Result {
	switch b {
	case 'A':
		return terminal.Accepted
	case 'C':
		return terminal.Conflict
	}
	return ""
}

func recordKey(term string, seq uint64) []byte {
	return appendRecordKey(make([]byte, 0, len(term)+9), term, seq)
}

// appendRecordKey appends the key of a terminal's record to k.
func appendRecordKey(k []byte, term string, seq uint64) []byte {
	k = append(k, term...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// splitRecordKey is recordKey's inverse.
func splitRecordKey(k []byte) (string, uint64, bool) {
	if len(k) < 10 || k[len(k)-9] != 0 {
		return "", 0, false
	}
	return string(k[:len(k)-9]), binary.BigEndian.Uint64(k[len(k)-8:]), true
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func dayKey(t time.Time) []byte { return appendDay(make([]byte, 0, 8), t) }

// appendDay appends t's UTC+8 day as "YYYYMMDD".
func appendDay(b []byte, t time.Time) []byte { return t.In(terminal.Zone).AppendFormat(b, "20060102") }

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("%w: stored value %q: %v", ErrDamaged, k, err)
	}
	return true, nil
}

// modifyJSON applies fn to the JSON value stored under id in b and stores
// it back; an absent id is "what id: hub.ErrUnknown".
func modifyJSON[T any](b *bolt.Bucket, what, id string, fn func(*T)) error {
	var v T
	ok, err := getJSON(b, []byte(id), &v)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%s %s: %w", what, id, hub.ErrUnknown)
	}
	fn(&v)
	return putJSON(b, []byte(id), &v)
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

// head returns a terminal's durable watermark and the hash of that record.
func head(tx *bolt.Tx, term string) hub.Head {
	var h hub.Head
	v := tx.Bucket(bHeads).Get([]byte(term))
	if len(v) != 40 {
		return h
	}
	copy(h.Hash[:], v[8:])
	h.Seq = binary.BigEndian.Uint64(v)
	return h
}

// record reads one record; its slices are copied out of the transaction.
func record(tx *bolt.Tx, term string, seq uint64) (hub.StoredRecord, bool, error) {
	v := tx.Bucket(bRecords).Get(recordKey(term, seq))
	if v == nil {
		return hub.StoredRecord{}, false, nil
	}
	r, err := decodeRecord(term, seq, v)
	if err != nil {
		return r, true, err
	}
	r.Sig, r.Body = append([]byte(nil), r.Sig...), append([]byte(nil), r.Body...)
	return r, true, nil
}
