package hub

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// The memos written for every accepted redemption (a holder's recent
// redemptions, a lane's latest) are kept in a binary layout rather than
// JSON: encoding them was a tenth of the committer's time in a drain, and
// they are most of the memos' bytes. A binary memo starts with
// memoBinary, a byte no JSON value starts with; memos stored as JSON by
// earlier versions are still read as JSON and written back binary when
// they next change. Every other memo stays JSON.
//
//	holder memo  memoBinary ‖ count uvarint ‖ recent…
//	lane memo    memoBinary ‖ recent
//	recent       id length uvarint ‖ id ‖ voucher u64 ‖ holder u64 ‖
//	             at Unix ns varint ‖ eligible fen varint ‖ spend fen varint
//
// A time in Unix nanoseconds spans the years 1678 to 2262; an accepted
// redemption's time lies within its voucher's validity and not after the
// server's clock.
const memoBinary = 0x01

// decodeMemo reads a stored memo into v: binary if v is a binaryMemo and
// b is in the binary layout, JSON otherwise.
func decodeMemo(b []byte, v any) error {
	if bm, ok := v.(binaryMemo); ok && len(b) > 0 && b[0] == memoBinary {
		return bm.readMemo(b[1:])
	}
	return json.Unmarshal(b, v)
}

// encodeMemo returns what is stored of memo v.
func encodeMemo(v any) ([]byte, error) {
	if bm, ok := v.(binaryMemo); ok {
		// Room for a holder's redemption or two: most memos, in one allocation.
		return bm.appendMemo(append(make([]byte, 0, 128), memoBinary)), nil
	}
	return json.Marshal(v)
}

// binaryMemo is a memo type kept in the binary layout.
type binaryMemo interface {
	appendMemo(b []byte) []byte
	readMemo(b []byte) error
}

// recents is a holder memo: the holder's recent accepted redemptions at a merchant.
type recents []terminal.Recent

// laneRecent is a lane memo: the chain's latest accepted redemption.
type laneRecent terminal.Recent

var (
	_ binaryMemo = (*recents)(nil)
	_ binaryMemo = (*laneRecent)(nil)
)

var errMemoShort = errors.New("binary memo cut short")

func (rs *recents) appendMemo(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(*rs)))
	for i := range *rs {
		b = appendRecent(b, &(*rs)[i])
	}
	return b
}

func (rs *recents) readMemo(b []byte) error {
	n, k := binary.Uvarint(b)
	// Every recent takes at least 19 bytes: a count beyond that is damage.
	if k <= 0 || n > uint64(len(b))/19 {
		return errMemoShort
	}
	b = b[k:]
	out := make(recents, n)
	for i := range out {
		var err error
		if b, err = readRecent(b, &out[i]); err != nil {
			return err
		}
	}
	if len(b) != 0 {
		return errors.New("binary memo: bytes after the last redemption")
	}
	*rs = out
	return nil
}

func (r *laneRecent) appendMemo(b []byte) []byte { return appendRecent(b, (*terminal.Recent)(r)) }

func (r *laneRecent) readMemo(b []byte) error {
	rest, err := readRecent(b, (*terminal.Recent)(r))
	if err == nil && len(rest) != 0 {
		err = errors.New("binary memo: bytes after the redemption")
	}
	return err
}

func appendRecent(b []byte, r *terminal.Recent) []byte {
	b = binary.AppendUvarint(b, uint64(len(r.RedemptionID)))
	b = append(b, r.RedemptionID...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.VoucherID))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Holder))
	b = binary.AppendVarint(b, r.At.UnixNano())
	b = binary.AppendVarint(b, int64(r.EligibleFen))
	return binary.AppendVarint(b, int64(r.SpendFen))
}

func readRecent(b []byte, r *terminal.Recent) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, errMemoShort
	}
	b = b[k:]
	id := string(b[:n])
	b = b[n:]
	if len(b) < 16 {
		return nil, errMemoShort
	}
	v, h := binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	b = b[16:]
	var ints [3]int64
	for i := range ints {
		x, k := binary.Varint(b)
		if k <= 0 {
			return nil, errMemoShort
		}
		ints[i], b = x, b[k:]
	}
	*r = terminal.Recent{RedemptionID: id, VoucherID: terminal.VoucherID(v), Holder: terminal.HolderID(h),
		At: time.Unix(0, ints[0]).In(terminal.Zone), EligibleFen: terminal.Fen(ints[1]), SpendFen: terminal.Fen(ints[2])}
	return b, nil
}

// A holder memo is needed only while a record can still come within the
// split-bill window of a redemption in it. Records reach the server up to
// holderKeep after their time (as remember assumes when it trims a memo),
// so once the newest redemption of a memo is more than holderKeep and the
// window behind the clock, no record the server can still receive is
// within the window of any of them, and the memo goes: otherwise every
// holder who ever redeemed would keep a memo for good, and the ledger would
// grow with the programme's holders rather than with its last days.
//
// The hub walks the holder memos a chunk at a time (Store.ScanMemos, no
// lock) and drops those found expired in one commit per chunk, each read
// again in that transaction (locked, for PostgreSQL) and dropped only if
// still expired: a redemption committed in between keeps its memo.

// memoSweepEvery is how often the hub sweeps the holder memos; the first
// sweep is sweepFirst after the hub starts.
const (
	memoSweepEvery = time.Hour
	sweepFirst     = time.Minute
)

// sweepChunk is how many memos a step of a sweep reads (and at most drops
// in one commit).
var sweepChunk = 1000

// SweepMemos drops the holder memos no record can need any more (above)
// and returns how many it dropped.
func (h *Hub) SweepMemos(ctx context.Context) (int, error) {
	params, err := h.params(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := h.now().Add(-holderKeep - params.WithDefaults().SplitBillWindow)
	expired := func(v []byte) bool {
		var rs recents
		if decodeMemo(v, &rs) != nil {
			return false // damaged: left for the commit that reads it to report
		}
		for _, r := range rs {
			if !r.At.Before(cutoff) {
				return false
			}
		}
		return true
	}
	dropped, after := 0, ""
	for {
		var keys []string
		n := 0
		err := h.store.ScanMemos(ctx, ExpiringMemoPrefix, after, sweepChunk, func(k string, v []byte) error {
			n, after = n+1, k
			if expired(v) {
				keys = append(keys, k)
			}
			return nil
		})
		if err == nil && len(keys) > 0 {
			var d int
			d, err = h.dropMemos(ctx, keys, expired)
			dropped += d
		}
		if err != nil {
			return dropped, fmt.Errorf("sweep holder memos: %w", err)
		}
		if n < sweepChunk {
			return dropped, nil
		}
	}
}

// dropMemos deletes, in one commit, those of the memos under keys that
// expired still says are expired as the commit reads them, and returns
// how many.
func (h *Hub) dropMemos(ctx context.Context, keys []string, expired func(v []byte) bool) (int, error) {
	dropped := 0
	err := h.store.Commit(ctx, &Keys{Memos: keys}, func(tx Tx) error {
		dropped = 0 // the commit may run fn again
		for _, k := range keys {
			v, ok, err := tx.Memo(k)
			if err == nil && ok && expired(v) {
				err = tx.DeleteMemo(k)
				dropped++
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return dropped, nil
}

// memoSweeper sweeps the holder memos every memoSweepEvery until the hub closes.
func (h *Hub) memoSweeper() {
	defer h.wg.Done()
	t := time.NewTimer(sweepFirst)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		n, err := h.SweepMemos(h.ctx)
		switch {
		case err != nil && h.ctx.Err() == nil:
			h.logf("hub: %v", err)
		case n > 0:
			h.logf("hub: dropped %d holder memos no record can need any more", n)
		}
		t.Reset(memoSweepEvery)
	}
}
