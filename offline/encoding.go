package offline

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// Buckets (docs/offline-ledger.md describes each).
var (
	bucketMeta      = []byte("meta")      // format, ids, key, watermark, high-water time
	bucketState     = []byte("state")     // the server state (JSON), alone so commits never rewrite it
	bucketRecords   = []byte("records")   // seq → sealed record (the journal; never pruned)
	bucketOutbox    = []byte("outbox")    // its sequence numbers the records; entries only in files of older versions (the outbox is the records above the watermark)
	bucketVouchers  = []byte("vouchers")  // voucher id → seq of its live redemption, as of the records up to meta's vouchers_seq
	bucketDays      = []byte("days")      // "YYYYMMDD" + seq → nil: seq starts a run of records of that UTC+8 day
	bucketRefunds   = []byte("refunds")   // redemption seq + refund seq → nil
	bucketSync      = []byte("sync")      // seq → the server's outcome
	bucketConflicts = []byte("conflicts") // seq → nil, for records the server reported in conflict

	allBuckets = [][]byte{bucketMeta, bucketState, bucketRecords, bucketOutbox, bucketVouchers,
		bucketDays, bucketRefunds, bucketSync, bucketConflicts}
)

// Keys of the meta bucket.
var (
	keyFormat    = []byte("format")
	keyTerminal  = []byte("terminal")
	keyMerchant  = []byte("merchant")
	keyPublicKey = []byte("public_key")
	keyWatermark = []byte("watermark")    // 8: the server's durable watermark
	keyHighWater = []byte("high_water")   // 8: unix ns, the terminal's clock at the last SaveState
	keyVouchers  = []byte("vouchers_seq") // 8: the records up to this seq are in bucketVouchers
	keyState     = []byte("state")        // in bucketState: JSON of terminal.ServerState
)

// appendFill is the fill percent of buckets whose keys mostly grow (records
// by seq, days by date and seq): bbolt's default of 50% would leave half of
// every page of an append-only bucket empty.
const appendFill = 0.95

// appending returns bucket name of tx set up for keys appended at its end.
func appending(tx *bolt.Tx, name []byte) *bolt.Bucket {
	b := tx.Bucket(name)
	b.FillPercent = appendFill
	return b
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func getU64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// dayKey is the UTC+8 day of t as "YYYYMMDD".
func dayKey(t time.Time) []byte { return []byte(terminal.Day(t).Format("20060102")) }

// A record value is: version (1) | prev (32) | hash (32) | sig (64) | body.
const (
	sealedVersion = 1
	sealedHeader  = 1 + 32 + 32 + 64
)

func encodeSealed(s *terminal.Sealed) []byte {
	b := make([]byte, 0, sealedHeader+len(s.Body))
	b = append(b, sealedVersion)
	b = append(b, s.Prev[:]...)
	b = append(b, s.Hash[:]...)
	b = append(b, s.Sig...)
	return append(b, s.Body...)
}

// checkSealed checks the header of v, a records value.
func checkSealed(seq uint64, v []byte) error {
	if len(v) < sealedHeader || v[0] != sealedVersion {
		return fmt.Errorf("record %d: bad stored value (%d bytes): %w", seq, len(v), ErrCorrupt)
	}
	return nil
}

// viewSealedValue reads v (a records value) in place: the record's Sig
// and Body are v's bytes.
func viewSealedValue(seq uint64, v []byte) (terminal.Sealed, error) {
	if err := checkSealed(seq, v); err != nil {
		return terminal.Sealed{}, err
	}
	s := terminal.Sealed{Seq: seq, Sig: v[65:sealedHeader:sealedHeader], Body: v[sealedHeader:len(v):len(v)]}
	copy(s.Prev[:], v[1:33])
	copy(s.Hash[:], v[33:65])
	return s, nil
}

// decodeSealed copies v (a records value) out of the transaction.
func decodeSealed(seq uint64, v []byte) (terminal.Sealed, error) {
	s, err := viewSealedValue(seq, v)
	if err == nil {
		ownSealed(&s)
	}
	return s, err
}

// ownSealed copies s's Sig and Body out of the transaction they were
// read in, in one allocation.
func ownSealed(s *terminal.Sealed) {
	sigBody := append(append(make([]byte, 0, len(s.Sig)+len(s.Body)), s.Sig...), s.Body...)
	s.Sig, s.Body = sigBody[:len(s.Sig):len(s.Sig)], sigBody[len(s.Sig):]
}

// decodeBody decodes the JSON body of v, a records value, into r. It reads
// v in place: json.Unmarshal copies what it keeps, so r may outlive the
// transaction.
func decodeBody(seq uint64, v []byte, r any) error {
	if err := checkSealed(seq, v); err != nil {
		return err
	}
	if err := json.Unmarshal(v[sealedHeader:], r); err != nil {
		return fmt.Errorf("record %d: %w: %v", seq, ErrCorrupt, err)
	}
	return nil
}

// An outcome value is the result, a zero byte and the detail.
func encodeOutcome(o terminal.Outcome) []byte { return appendOutcome(nil, o) }

// appendOutcome appends the outcome value of o to b.
func appendOutcome(b []byte, o terminal.Outcome) []byte {
	return append(append(append(b, o.Result...), 0), o.Detail...)
}

func decodeOutcome(seq uint64, v []byte) terminal.Outcome {
	o := terminal.Outcome{Seq: seq}
	for i, c := range v {
		if c == 0 {
			o.Result, o.Detail = terminal.Result(v[:i]), string(v[i+1:])
			return o
		}
	}
	o.Result = terminal.Result(v)
	return o
}
