package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// Commit runs fn in one transaction (READ COMMITTED). It first reads, in
// one round trip, what keys name: it locks the chains of keys.Terminals,
// the live rows (voucher_live) of keys.Vouchers and the memos of keys.Memos
// that exist (SELECT ... FOR UPDATE, in key order), and reads keys.Records,
// keys.Merchants and the vouchers' minted codes and revocations. fn runs
// over that in memory; then everything it did is written in a few
// statements (COPY of the records, of the new live rows, of the conflicts
// and of the new memos; one batch of the updates and deletes and the chain
// heads) and committed. What was absent is not locked: a row fn makes is
// inserted, and a second instance inserting the same voucher's live row or
// the same memo meanwhile loses on the primary key; its transaction runs
// again and then sees the row. So "one live redemption per voucher" is the
// primary key of voucher_live, and a redemption of a voucher nothing else
// holds is one inserted row, with no row of vouchers locked or updated.
func (s *Store) Commit(ctx context.Context, keys *hub.Keys, fn func(hub.Tx) error) error {
	if keys == nil {
		keys = &hub.Keys{}
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = s.commitOnce(ctx, keys, fn)
		if err == nil || !retryable(err) || attempt == MaxAttempts {
			return err
		}
		select {
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

// errRetry marks a failure that left nothing behind and may be run again.
var errRetry = errors.New("transaction lost a race")

func retryable(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		case "23505": // unique_violation: a live row or memo inserted by another instance
			return pe.ConstraintName == "voucher_live_pkey" || pe.ConstraintName == "memos_pkey"
		}
		return false
	}
	return pgconn.SafeToRetry(err)
}

func (s *Store) commitOnce(ctx context.Context, keys *hub.Keys, fn func(hub.Tx) error) (err error) {
	pt, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = pt.Rollback(context.Background())
		}
	}()
	t := newTx(ctx, pt, nil)
	if err := t.prefetch(keys); err != nil {
		return err
	}
	if err := fn(t); err != nil {
		return err
	}
	if err := t.flush(); err != nil {
		return err
	}
	return commit(ctx, pt)
}

// newTx returns a group commit's transaction over pt; prev is the group
// before it, still committing, or nil (pipeline.go).
func newTx(ctx context.Context, pt pgx.Tx, prev *tx) *tx {
	t := &tx{ctx: ctx, tx: pt, heads: map[string]*headEntry{}, recs: map[hub.RecordRef]*hub.StoredRecord{},
		vouchers: map[terminal.VoucherID]*voucherRow{}, merchants: map[string]*terminal.Merchant{}, memos: map[string]*memo{}}
	if prev != nil {
		t.prev, t.taken = prev, &taken{heads: map[string]hub.Head{}, memos: map[string]memoBase{},
			vouchers: map[terminal.VoucherID]voucherRow{}, merchants: map[string]*terminal.Merchant{}}
	}
	return t
}

type headEntry struct {
	h     hub.Head
	dirty bool
}

// voucherRow is a voucher as the transaction sees it: its minted code and
// revocation (vouchers, read without a lock: the code never changes, and a
// revocation committed meanwhile comes after this transaction), and its
// live row (voucher_live: its accepted redemption and its hold).
type voucherRow struct {
	code    *string
	revoked bool
	// exists: the live row was there and is locked (updated, or deleted
	// once empty, at flush); else it is inserted if dirty and not empty.
	exists   bool
	dirty    bool
	redeemed string // record id, "" for none
	hold     *hub.Hold
}

// empty says whether nothing is live on the voucher.
func (v *voucherRow) empty() bool { return v.redeemed == "" && v.hold == nil }

// tx is one group commit.
type tx struct {
	ctx       context.Context
	tx        pgx.Tx
	heads     map[string]*headEntry
	recs      map[hub.RecordRef]*hub.StoredRecord // nil: known absent
	newRecs   []*hub.StoredRecord
	vouchers  map[terminal.VoucherID]*voucherRow
	merchants map[string]*terminal.Merchant // nil: known absent
	conflicts []*hub.Conflict
	memos     map[string]*memo

	// prev is the group before this one while it commits: what it read and
	// wrote is taken from it as committed (taken) instead of being read
	// here, and checked once it has committed (pipeline.go). nil once this
	// group's decisions are made.
	prev  *tx
	taken *taken
}

// memo is a memos row as the transaction sees it.
type memo struct {
	value         []byte // nil: absent
	exists, dirty bool
}

var _ hub.Tx = (*tx)(nil)

// prefetch reads what k names in one round trip.
func (t *tx) prefetch(k *hub.Keys) error {
	var b pgx.Batch
	t.queueHeads(&b, uniq(k.Terminals))
	t.queueRecords(&b, k.Records)
	t.queueVouchers(&b, uniq(k.Vouchers))
	t.queueMerchants(&b, uniq(k.Merchants))
	t.queueMemos(&b, uniq(k.Memos))
	return t.send(&b)
}

// send runs a batch of the queue functions' statements.
func (t *tx) send(b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return t.tx.SendBatch(t.ctx, b).Close()
}

// queueMemos queues the locking read of memos.
func (t *tx) queueMemos(b *pgx.Batch, keys []string) {
	if len(keys) == 0 {
		return
	}
	keys = untaken(t, keys, t.takeMemo)
	if len(keys) == 0 {
		return
	}
	for _, k := range keys {
		t.memos[k] = &memo{}
	}
	queueCustomPlan(b, "SELECT key, value FROM memos WHERE key = ANY($1) ORDER BY key FOR UPDATE", keys).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k string
			var v []byte
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			t.memos[k] = &memo{value: v, exists: true}
		}
		return rows.Err()
	})
}

func (t *tx) memo(key string) (*memo, error) {
	if m, ok := t.memos[key]; ok {
		return m, nil
	}
	var b pgx.Batch
	t.queueMemos(&b, []string{key})
	if err := t.send(&b); err != nil {
		return nil, err
	}
	return t.memos[key], nil
}

func (t *tx) Memo(key string) ([]byte, bool, error) {
	m, err := t.memo(key)
	if err != nil || m.value == nil {
		return nil, false, err
	}
	return append([]byte(nil), m.value...), true, nil
}

func (t *tx) PutMemo(key string, v []byte) error {
	if key == "" {
		return fmt.Errorf("memo: empty key")
	}
	m, err := t.memo(key)
	if err != nil {
		return err
	}
	m.value, m.dirty = append([]byte{}, v...), true
	return nil
}

// DeleteMemo marks a memo deleted: deleted at flush if it was stored.
func (t *tx) DeleteMemo(key string) error {
	m, err := t.memo(key)
	if err != nil {
		return err
	}
	m.value, m.dirty = nil, true
	return nil
}

// flushMemos copies the new memos and queues the updates and deletes of
// the others on b.
func (t *tx) flushMemos(b *pgx.Batch) error {
	var uk, ik, dk []string
	var uv, iv [][]byte
	for k, m := range t.memos {
		switch {
		case !m.dirty:
		case m.value == nil: // deleted
			if m.exists {
				dk = append(dk, k)
			}
		case m.exists:
			uk, uv = append(uk, k), append(uv, m.value)
		default:
			ik, iv = append(ik, k), append(iv, m.value)
		}
	}
	if len(uk) > 0 {
		b.Queue("UPDATE memos SET value = u.v FROM unnest($1::text[], $2::bytea[]) AS u(k, v) WHERE memos.key = u.k", uk, uv)
	}
	if len(dk) > 0 {
		b.Queue("DELETE FROM memos WHERE key = ANY($1)", dk)
	}
	if len(ik) > 0 {
		// COPY: a group inserts thousands (a holder's first redemption at a
		// merchant); another instance inserting the same key meanwhile
		// fails it on memos_pkey, and the transaction runs again (retryable).
		_, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{"memos"}, []string{"key", "value"}, pgx.CopyFromSlice(len(ik), func(i int) ([]any, error) {
			return []any{ik[i], iv[i]}, nil
		}))
		return err
	}
	return nil
}

func uniq[T ~string | ~uint64](xs []T) []T {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return slices.Compact(xs)
}

// queueHeads queues the locking read of chain heads.
func (t *tx) queueHeads(b *pgx.Batch, terms []string) {
	terms = untaken(t, terms, t.takeHead)
	if len(terms) == 0 {
		return
	}
	for _, id := range terms {
		t.heads[id] = &headEntry{}
	}
	b.Queue("SELECT terminal_id, seq, hash FROM chains WHERE terminal_id = ANY($1) ORDER BY terminal_id FOR UPDATE", terms).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			var seq int64
			var hash []byte
			if err := rows.Scan(&id, &seq, &hash); err != nil {
				return err
			}
			e := t.heads[id]
			e.h.Seq = uint64(seq)
			copy(e.h.Hash[:], hash)
		}
		return rows.Err()
	})
}

// queueRecords queues the read of records.
func (t *tx) queueRecords(b *pgx.Batch, refs []hub.RecordRef) {
	refs = untaken(t, refs, t.takeRecord)
	if len(refs) == 0 {
		return
	}
	terms := make([]string, len(refs))
	seqs := make([]int64, len(refs))
	for i, r := range refs {
		terms[i], seqs[i] = r.TerminalID, int64(r.Seq)
		t.recs[r] = nil
	}
	b.Queue("SELECT "+recordCols+" FROM records JOIN unnest($1::text[], $2::bigint[]) AS k(t, s) ON terminal_id = k.t AND seq = k.s", terms, seqs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			r, err := scanRecord(rows)
			if err != nil {
				return err
			}
			t.recs[hub.RecordRef{TerminalID: r.TerminalID, Seq: r.Seq}] = &r
		}
		return rows.Err()
	})
}

// queueVouchers queues the reads of vouchers: their minted codes and
// revocations, without a lock, and the locking read of their live rows.
func (t *tx) queueVouchers(b *pgx.Batch, vs []terminal.VoucherID) {
	vs = untaken(t, vs, t.takeVoucher)
	if len(vs) == 0 {
		return
	}
	ids := make([]int64, len(vs))
	for i, v := range vs {
		ids[i] = int64(v)
		t.vouchers[v] = &voucherRow{}
	}
	b.Queue("SELECT id, code, revoked_at IS NOT NULL FROM vouchers WHERE id = ANY($1)", ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id int64
			var code *string
			var revoked bool
			if err := rows.Scan(&id, &code, &revoked); err != nil {
				return err
			}
			v := t.vouchers[terminal.VoucherID(id)]
			v.code, v.revoked = code, revoked
		}
		return rows.Err()
	})
	queueCustomPlan(b, "SELECT "+liveCols+" FROM voucher_live WHERE voucher_id = ANY($1) ORDER BY voucher_id FOR UPDATE", ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id int64
			var rt, ht *string
			var rs *int64
			var hu *time.Time
			if err := rows.Scan(&id, &rt, &rs, &ht, &hu); err != nil {
				return err
			}
			v := t.vouchers[terminal.VoucherID(id)]
			v.exists = true
			if rt != nil && rs != nil {
				v.redeemed = terminal.RecordID(*rt, uint64(*rs))
			}
			if ht != nil && hu != nil {
				v.hold = &hub.Hold{TerminalID: *ht, Until: *hu}
			}
		}
		return rows.Err()
	})
}

// queueCustomPlan queues a group's locking read of a table that grows from
// empty under load (voucher_live, memos), planned with the group's own
// keys each time: a generic plan cached while the table was nearly empty
// (a new database, a first drain) kept scanning it whole, every row
// against every key, once it held 100,000 rows (a reconnect storm took
// 18-27 s instead of 5-6 s, PostgreSQL busy throughout). Only these
// statements: planning all of a group's statements anew cost 4-5 µs of
// PostgreSQL's CPU a record.
func queueCustomPlan(b *pgx.Batch, sql string, args ...any) *pgx.QueuedQuery {
	b.Queue("SET LOCAL plan_cache_mode = force_custom_plan")
	q := b.Queue(sql, args...)
	b.Queue("SET LOCAL plan_cache_mode TO DEFAULT")
	return q
}

const liveCols = "voucher_id, redeemed_terminal, redeemed_seq, hold_terminal, hold_until"

// queueMerchants queues the read of merchants.
func (t *tx) queueMerchants(b *pgx.Batch, ids []string) {
	ids = untaken(t, ids, t.takeMerchant)
	if len(ids) == 0 {
		return
	}
	for _, id := range ids {
		t.merchants[id] = nil
	}
	b.Queue("SELECT "+merchantCols+" FROM merchants WHERE id = ANY($1)", ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			m, err := scanMerchant(rows)
			if err != nil {
				return err
			}
			t.merchants[m.ID] = &m
		}
		return rows.Err()
	})
}

// head returns the entry of a terminal, locking its chain if keys did not name it.
func (t *tx) head(term string) (*headEntry, error) {
	if e, ok := t.heads[term]; ok {
		return e, nil
	}
	var b pgx.Batch
	t.queueHeads(&b, []string{term})
	if err := t.send(&b); err != nil {
		return nil, err
	}
	return t.heads[term], nil
}

func (t *tx) Head(term string) (hub.Head, error) {
	e, err := t.head(term)
	if err != nil {
		return hub.Head{}, err
	}
	return e.h, nil
}

func (t *tx) SetHead(term string, h hub.Head) error {
	e, err := t.head(term)
	if err != nil {
		return err
	}
	e.h, e.dirty = h, true
	return nil
}

func (t *tx) Record(term string, seq uint64) (hub.StoredRecord, bool, error) {
	ref := hub.RecordRef{TerminalID: term, Seq: seq}
	r, ok := t.recs[ref]
	if !ok {
		var b pgx.Batch
		t.queueRecords(&b, []hub.RecordRef{ref})
		if err := t.send(&b); err != nil {
			return hub.StoredRecord{}, false, err
		}
		r = t.recs[ref]
	}
	if r == nil {
		return hub.StoredRecord{}, false, nil
	}
	return *r, true, nil
}

func (t *tx) PutRecord(r *hub.StoredRecord) error {
	ref := hub.RecordRef{TerminalID: r.TerminalID, Seq: r.Seq}
	if cur, ok := t.recs[ref]; ok && cur != nil {
		return fmt.Errorf("record %s: %w", r.ID(), hub.ErrExists)
	}
	c := *r
	// The bytes too: the hub reads the next batch into the message these
	// alias once this group is answered, and the group after it may take
	// this record (takeRecord).
	c.Body, c.Sig = bytes.Clone(r.Body), bytes.Clone(r.Sig)
	t.recs[ref] = &c
	t.newRecs = append(t.newRecs, &c)
	return nil
}

// voucher returns the row of v, locking it if keys did not name it.
func (t *tx) voucher(v terminal.VoucherID) (*voucherRow, error) {
	if row, ok := t.vouchers[v]; ok {
		return row, nil
	}
	var b pgx.Batch
	t.queueVouchers(&b, []terminal.VoucherID{v})
	if err := t.send(&b); err != nil {
		return nil, err
	}
	return t.vouchers[v], nil
}

func (t *tx) Redeemed(v terminal.VoucherID) (string, bool, error) {
	row, err := t.voucher(v)
	if err != nil {
		return "", false, err
	}
	return row.redeemed, row.redeemed != "", nil
}

func (t *tx) SetRedeemed(v terminal.VoucherID, recordID string) error {
	row, err := t.voucher(v)
	if err != nil {
		return err
	}
	if row.redeemed != "" {
		return fmt.Errorf("voucher %s redeemed by %s: %w", v, row.redeemed, hub.ErrExists)
	}
	if _, _, ok := terminal.ParseRecordID(recordID); !ok {
		return fmt.Errorf("record id %q", recordID)
	}
	row.redeemed, row.dirty = recordID, true
	return nil
}

func (t *tx) ClearRedeemed(v terminal.VoucherID) error {
	row, err := t.voucher(v)
	if err != nil {
		return err
	}
	if row.redeemed != "" {
		row.redeemed, row.dirty = "", true
	}
	return nil
}

func (t *tx) Revoked(v terminal.VoucherID) (bool, error) {
	row, err := t.voucher(v)
	if err != nil {
		return false, err
	}
	return row.revoked, nil
}

func (t *tx) Minted(v terminal.VoucherID) (string, bool, error) {
	row, err := t.voucher(v)
	if err != nil || row.code == nil {
		return "", false, err
	}
	return *row.code, true, nil
}

func (t *tx) Merchant(id string) (terminal.Merchant, bool, error) {
	m, ok := t.merchants[id]
	if !ok {
		var b pgx.Batch
		t.queueMerchants(&b, []string{id})
		if err := t.send(&b); err != nil {
			return terminal.Merchant{}, false, err
		}
		m = t.merchants[id]
	}
	if m == nil {
		return terminal.Merchant{}, false, nil
	}
	return *m, true, nil
}

func (t *tx) Hold(v terminal.VoucherID) (hub.Hold, bool, error) {
	row, err := t.voucher(v)
	if err != nil || row.hold == nil {
		return hub.Hold{}, false, err
	}
	return *row.hold, true, nil
}

func (t *tx) PutHold(v terminal.VoucherID, h hub.Hold) error {
	row, err := t.voucher(v)
	if err != nil {
		return err
	}
	row.hold, row.dirty = &h, true
	return nil
}

func (t *tx) DeleteHold(v terminal.VoucherID) error {
	row, err := t.voucher(v)
	if err != nil {
		return err
	}
	if row.hold != nil {
		row.hold, row.dirty = nil, true
	}
	return nil
}

// DeleteHoldsBefore drops the expired holds in the table (rows this
// transaction has not read, locking them) and in the rows it holds.
func (t *tx) DeleteHoldsBefore(now time.Time) (int, error) {
	mine := make([]int64, 0, len(t.vouchers))
	for v := range t.vouchers {
		mine = append(mine, int64(v))
	}
	n := 0
	count := func(ct pgconn.CommandTag) error { n += int(ct.RowsAffected()); return nil }
	var b pgx.Batch
	b.Queue("DELETE FROM voucher_live WHERE hold_until <= $1 AND redeemed_seq IS NULL AND voucher_id <> ALL($2)", now, mine).Exec(count)
	b.Queue("UPDATE voucher_live SET hold_terminal = NULL, hold_until = NULL WHERE hold_until <= $1 AND voucher_id <> ALL($2)", now, mine).Exec(count)
	if err := t.send(&b); err != nil {
		return 0, err
	}
	for _, row := range t.vouchers {
		if row.hold != nil && !now.Before(row.hold.Until) {
			n++
			row.hold, row.dirty = nil, true
		}
	}
	return n, nil
}

func (t *tx) AddConflict(c *hub.Conflict) error {
	cc := *c
	t.conflicts = append(t.conflicts, &cc)
	return nil
}

// flush writes what fn did: the new rows by COPY, then the updates,
// deletes and chain heads in one batch.
func (t *tx) flush() error {
	if err := t.flushRecords(); err != nil {
		return err
	}
	var b pgx.Batch
	if err := t.flushVouchers(&b); err != nil {
		return err
	}
	if err := t.flushConflicts(); err != nil {
		return err
	}
	if err := t.flushMemos(&b); err != nil {
		return err
	}
	t.flushHeads(&b)
	return t.send(&b)
}

func (t *tx) flushRecords() error {
	if len(t.newRecs) == 0 {
		return nil
	}
	cols := strings.Split(recordCols+", day", ", ")
	_, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{"records"}, cols, pgx.CopyFromSlice(len(t.newRecs), func(i int) ([]any, error) {
		r := t.newRecs[i]
		return []any{r.TerminalID, int64(r.Seq), r.MerchantID, r.At, string(r.Kind), int64(r.Voucher), r.Hash[:],
			r.Sig, r.Body, string(r.Result), r.Detail, reportDay(r.At)}, nil
	}))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "records_pkey" {
		return fmt.Errorf("record %s: %w", pe.Detail, hub.ErrExists)
	}
	return err
}

// flushVouchers copies the new live rows (in voucher order, as the locks
// are taken) and queues the updates and deletes of the existing ones on b.
func (t *tx) flushVouchers(b *pgx.Batch) error {
	var upd, ins liveRows
	var del []int64
	for v, row := range t.vouchers {
		switch {
		case !row.dirty:
		case !row.exists:
			if !row.empty() {
				ins.add(v, row)
			}
		case row.empty():
			del = append(del, int64(v))
		default:
			upd.add(v, row)
		}
	}
	if len(upd.ids) > 0 {
		b.Queue(`UPDATE voucher_live SET redeemed_terminal = u.rt, redeemed_seq = u.rs, hold_terminal = u.ht, hold_until = u.hu
			FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[]) AS u(id, rt, rs, ht, hu)
			WHERE voucher_live.voucher_id = u.id`, upd.ids, upd.rt, upd.rs, upd.ht, upd.hu)
	}
	if len(del) > 0 {
		b.Queue("DELETE FROM voucher_live WHERE voucher_id = ANY($1)", del)
	}
	if len(ins.ids) == 0 {
		return nil
	}
	order := make([]int, len(ins.ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return cmp.Compare(ins.ids[i], ins.ids[j]) })
	_, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{"voucher_live"}, strings.Split(liveCols, ", "), pgx.CopyFromSlice(len(order), func(k int) ([]any, error) {
		i := order[k]
		return []any{ins.ids[i], ins.rt[i], ins.rs[i], ins.ht[i], ins.hu[i]}, nil
	}))
	return err
}

// liveRows are the columns of the live rows written by a flush.
type liveRows struct {
	ids []int64
	rt  []*string
	rs  []*int64
	ht  []*string
	hu  []*time.Time
}

func (c *liveRows) add(v terminal.VoucherID, row *voucherRow) {
	c.ids = append(c.ids, int64(v))
	var rt, ht *string
	var rs *int64
	var hu *time.Time
	if term, seq, ok := terminal.ParseRecordID(row.redeemed); ok {
		s := int64(seq)
		rt, rs = &term, &s
	}
	if row.hold != nil {
		ht, hu = &row.hold.TerminalID, &row.hold.Until
	}
	c.rt, c.rs, c.ht, c.hu = append(c.rt, rt), append(c.rs, rs), append(c.ht, ht), append(c.hu, hu)
}

func (t *tx) flushConflicts() error {
	if len(t.conflicts) == 0 {
		return nil
	}
	_, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{"conflicts"}, strings.Split(conflictCols, ", "), pgx.CopyFromSlice(len(t.conflicts), func(i int) ([]any, error) {
		c := t.conflicts[i]
		return []any{c.RecordID, c.TerminalID, c.MerchantID, int64(c.Seq), int64(c.Voucher), int16(c.Category),
			int64(c.DiscountFen), c.At, int16(c.At.Nanosecond() % 1000), c.Against, string(c.Code), c.Reason}, nil
	}))
	return err
}

// flushHeads queues the moved chain heads on b.
func (t *tx) flushHeads(b *pgx.Batch) {
	var terms []string
	var seqs []int64
	var hashes [][]byte
	for id, e := range t.heads {
		if e.dirty {
			terms, seqs, hashes = append(terms, id), append(seqs, int64(e.h.Seq)), append(hashes, e.h.Hash[:])
		}
	}
	if len(terms) == 0 {
		return
	}
	b.Queue(`INSERT INTO chains (terminal_id, seq, hash) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])
		ON CONFLICT (terminal_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, terms, seqs, hashes)
}
