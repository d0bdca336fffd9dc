package hub

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// Buckets of the hub's ledger. Keys are documented beside each.
var (
	bMeta      = []byte("meta")      // kIssuer → issuing key seed; kParams → JSON terminal.Params
	bMerchants = []byte("merchants") // merchant id → JSON terminal.Merchant
	bTerminals = []byte("terminals") // terminal id → JSON terminalRec
	bHeads     = []byte("heads")     // terminal id → watermark u64 ‖ hash of that record [32]
	bRecords   = []byte("records")   // terminal id ‖ 0 ‖ seq u64 → storedRecord
	bDays      = []byte("days")      // "YYYYMMDD" ‖ record key → empty (report index, UTC+8 day of the record)
	bVouchers  = []byte("vouchers")  // voucher id u64 → record id of its one accepted, live redemption
	bConflicts = []byte("conflicts") // sequence u64 → JSON Conflict
	bMinted    = []byte("minted")    // voucher id u64 → code minted by this hub
	bRevoked   = []byte("revoked")   // voucher id u64 → Unix seconds of the revocation
	bHolds     = []byte("holds")     // voucher id u64 → JSON hold
	bKeys      = []byte("keys")      // key id u32 → issuing key seed (all trusted)

	allBuckets = [][]byte{bMeta, bMerchants, bTerminals, bHeads, bRecords, bDays, bVouchers, bConflicts, bMinted, bRevoked, bHolds, bKeys}

	kIssuer  = []byte("issuer")
	kParams  = []byte("params")
	kCurrent = []byte("current_key") // key id u32 of the key minting now (absent: the identity key)
)

// terminalRec is an enrolled terminal as the hub stores it: only the public key.
type terminalRec struct {
	ID         string    `json:"id"`
	MerchantID string    `json:"merchant_id"`
	Public     []byte    `json:"public"`
	Revoked    bool      `json:"revoked,omitempty"`
	Added      time.Time `json:"added"`
}

// hold is an online claim on a voucher.
type hold struct {
	TerminalID string    `json:"terminal_id"`
	Until      time.Time `json:"until"`
}

// Conflict is an entry for the auditors: a synced record the hub kept but
// did not accept, because its voucher was redeemed (or held) elsewhere,
// revoked, or its code did not verify.
type Conflict struct {
	RecordID    string             `json:"record_id"`
	TerminalID  string             `json:"terminal_id"`
	MerchantID  string             `json:"merchant_id"`
	Seq         uint64             `json:"seq"`
	Voucher     terminal.VoucherID `json:"voucher"`
	Category    terminal.Category  `json:"category"`
	DiscountFen terminal.Fen       `json:"discount_fen"`
	At          time.Time          `json:"at"`
	// Against is the record id of the accepted redemption, if any.
	Against string `json:"against,omitempty"`
	Reason  string `json:"reason"`
}

// storedRecord: result byte ‖ hash [32] ‖ siglen u8 ‖ sig ‖ detaillen u16 ‖ detail ‖ body.
func encodeStored(res terminal.Result, detail string, s *terminal.Sealed) []byte {
	if len(detail) > 0xffff {
		detail = detail[:0xffff]
	}
	b := make([]byte, 0, 1+32+1+len(s.Sig)+2+len(detail)+len(s.Body))
	b = append(b, resultByte(res))
	b = append(b, s.Hash[:]...)
	b = append(b, byte(len(s.Sig)))
	b = append(b, s.Sig...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(detail)))
	b = append(b, detail...)
	return append(b, s.Body...)
}

// stored is a decoded storedRecord.
type stored struct {
	res    terminal.Result
	hash   [32]byte
	sig    []byte
	detail string
	body   []byte
}

func decodeStored(v []byte) (stored, error) {
	var s stored
	if len(v) < 34 || len(v) < 34+int(v[33])+2 {
		return s, fmt.Errorf("stored record of %d bytes", len(v))
	}
	s.res = byteResult(v[0])
	copy(s.hash[:], v[1:33])
	n := 34 + int(v[33])
	s.sig = v[34:n]
	dl := int(binary.BigEndian.Uint16(v[n:]))
	n += 2
	if len(v) < n+dl {
		return s, fmt.Errorf("stored record of %d bytes", len(v))
	}
	s.detail = string(v[n : n+dl])
	s.body = v[n+dl:]
	return s, nil
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

func byteResult(b byte) terminal.Result {
	switch b {
	case 'A':
		return terminal.Accepted
	case 'C':
		return terminal.Conflict
	}
	return ""
}

func recordKey(term string, seq uint64) []byte {
	k := make([]byte, 0, len(term)+9)
	k = append(k, term...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func dayKey(t time.Time) []byte { return []byte(t.In(terminal.Zone).Format("20060102")) }

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("stored value %q: %w", k, err)
	}
	return true, nil
}

// modifyJSON applies fn to the JSON value stored under id in b and stores
// it back; an absent id is "what id: ErrUnknown".
func modifyJSON[T any](b *bolt.Bucket, what, id string, fn func(*T)) error {
	var v T
	ok, err := getJSON(b, []byte(id), &v)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%s %s: %w", what, id, ErrUnknown)
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
func head(tx *bolt.Tx, term string) (uint64, [32]byte) {
	var h [32]byte
	v := tx.Bucket(bHeads).Get([]byte(term))
	if len(v) != 40 {
		return 0, h
	}
	copy(h[:], v[8:])
	return binary.BigEndian.Uint64(v), h
}

func putHead(tx *bolt.Tx, term string, seq uint64, h [32]byte) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 40), seq)
	return tx.Bucket(bHeads).Put([]byte(term), append(v, h[:]...))
}
