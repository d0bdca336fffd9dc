package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// issuingLock is the advisory lock every issuing transaction takes first:
// the claims of all instances are decided one group at a time.
const issuingLock = 0x69737375 // "issu"

// Issuing is the issuing side's store in the same database as the hub's.
type Issuing struct {
	s *Store
}

var _ issuing.Store = (*Issuing)(nil)

// Issuing returns the issuing side's store in the hub's database.
func (s *Store) Issuing() *Issuing { return &Issuing{s: s} }

// Update runs fn in one transaction under the issuing lock; it commits
// once (one COMMIT for a group of claims).
func (is *Issuing) Update(ctx context.Context, fn func(issuing.Tx) error) error {
	return pgx.BeginFunc(ctx, is.s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", issuingLock); err != nil {
			return err
		}
		t := &issuingTx{ctx: ctx, tx: tx}
		if err := fn(t); err != nil {
			return err
		}
		return t.flush()
	})
}

// View runs fn in a read-only transaction (one snapshot).
func (is *Issuing) View(ctx context.Context, fn func(issuing.Tx) error) error {
	return pgx.BeginTxFunc(ctx, is.s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(&issuingTx{ctx: ctx, tx: tx})
	})
}

// issuingTx is one transaction. The claims it adds are inserted in one
// statement (flush) at its end, or before a read that must see them, and a
// group commit reads its claims' keys and holders in two queries
// (Prefetch): a statement per claim is a round trip per claim.
type issuingTx struct {
	ctx context.Context
	tx  pgx.Tx
	// pending are the claims added and not yet inserted.
	pending []*issuing.Claim
	// byKey and byHolder are the claims of the keys and holders prefetched
	// (a nil claim: none with that key), with those added since.
	byKey    map[string]*issuing.Claim
	byHolder map[terminal.HolderID][]issuing.Claim
	// seq is the last claim number given (NextClaimSeq), once seqRead;
	// seqTaken: claim_seq is not yet past it.
	seq      int64
	seqRead  bool
	seqTaken bool
}

var _ issuing.Prefetcher = (*issuingTx)(nil)

// Prefetch reads the claims of keys and of holders, so that ClaimByKey and
// HolderClaims of them need no query.
func (t *issuingTx) Prefetch(keys []string, holders []terminal.HolderID) error {
	if err := t.flush(); err != nil {
		return err
	}
	t.byKey, t.byHolder = make(map[string]*issuing.Claim, len(keys)), make(map[terminal.HolderID][]issuing.Claim, len(holders))
	for _, k := range keys {
		t.byKey[k] = nil
	}
	cs, err := t.claims("SELECT body, status FROM claims WHERE idem_key = ANY($1)", keys)
	if err != nil {
		return err
	}
	for i := range cs {
		t.byKey[cs[i].Key] = &cs[i]
	}
	hs := make([]int64, len(holders))
	for i, h := range holders {
		hs[i] = int64(h)
		t.byHolder[h] = nil
	}
	if cs, err = t.claims("SELECT body, status FROM claims WHERE holder = ANY($1) ORDER BY seq", hs); err != nil {
		return err
	}
	for _, c := range cs {
		t.byHolder[c.Voucher.Holder] = append(t.byHolder[c.Voucher.Holder], c)
	}
	return nil
}

// flush moves claim_seq past the numbers given and inserts the pending
// claims in one statement.
func (t *issuingTx) flush() error {
	if t.seqTaken {
		if _, err := t.tx.Exec(t.ctx, "SELECT setval('claim_seq', $1)", t.seq); err != nil {
			return err
		}
		t.seqTaken = false
	}
	if len(t.pending) == 0 {
		return nil
	}
	n := len(t.pending)
	seqs, holders, vids, drops := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	keys, sts, bodies := make([]*string, n), make([]string, n), make([]string, n)
	for i, c := range t.pending {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		seqs[i], holders[i], vids[i], drops[i] = int64(c.Seq), int64(c.Voucher.Holder), int64(c.Voucher.ID), int64(c.Drop)
		if c.Key != "" {
			keys[i] = &c.Key
		}
		sts[i], bodies[i] = string(c.Status), string(b)
	}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO claims (seq, holder, idem_key, voucher_id, drop_id, status, body)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::jsonb[])`,
		seqs, holders, keys, vids, drops, sts, bodies)
	if err != nil {
		return err
	}
	t.pending = t.pending[:0]
	return nil
}

func (t *issuingTx) Secret(create bool) ([]byte, error) {
	var v []byte
	err := t.tx.QueryRow(t.ctx, "SELECT v FROM issuing_meta WHERE k = 'holder_secret'").Scan(&v)
	if err == nil && len(v) == 32 {
		return v, nil
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	if !create {
		return nil, fmt.Errorf("issuing: no holder secret")
	}
	v = make([]byte, 32)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	_, err = t.tx.Exec(t.ctx, "INSERT INTO issuing_meta (k, v) VALUES ('holder_secret', $1)", v)
	return v, err
}

// jsonRows collects a one-column query of JSON values.
func jsonRows[T any](t *issuingTx, sql string, args ...any) ([]T, error) {
	rows, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) {
		var x T
		var b []byte
		if err := row.Scan(&b); err != nil {
			return x, err
		}
		return x, json.Unmarshal(b, &x)
	})
}

func (t *issuingTx) Rounds() ([]terminal.IssueRound, error) {
	return jsonRows[terminal.IssueRound](t, "SELECT body FROM issue_rounds ORDER BY seq")
}

func (t *issuingTx) AddRound(r terminal.IssueRound) error {
	b, err := json.Marshal(&r)
	if err == nil {
		_, err = t.tx.Exec(t.ctx, "INSERT INTO issue_rounds (id, body) VALUES ($1, $2)", r.ID, b)
	}
	return err
}

func (t *issuingTx) Moves() ([]terminal.BudgetMove, error) {
	return jsonRows[terminal.BudgetMove](t, "SELECT body FROM budget_moves ORDER BY seq")
}

func (t *issuingTx) AddMove(m terminal.BudgetMove) error {
	b, err := json.Marshal(&m)
	if err == nil {
		_, err = t.tx.Exec(t.ctx, "INSERT INTO budget_moves (body) VALUES ($1)", b)
	}
	return err
}

func (t *issuingTx) Drops() ([]terminal.Drop, error) {
	return jsonRows[terminal.Drop](t, "SELECT body FROM drops ORDER BY id")
}

func (t *issuingTx) PutDrop(d *terminal.Drop) error {
	if d.ID == 0 {
		var id int64
		if err := t.tx.QueryRow(t.ctx, "SELECT nextval('drop_ids')").Scan(&id); err != nil {
			return err
		}
		d.ID = uint64(id)
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO drops (id, count, claimed, body) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET count = excluded.count, claimed = excluded.claimed, body = excluded.body`,
		int64(d.ID), d.Count, d.Claimed, b)
	return err
}

// NextClaimSeq gives claim numbers from memory after the transaction's
// first, and flush moves claim_seq past them (setval) before any claim is
// inserted: every issuing transaction holds issuingLock, so no other takes
// numbers meanwhile, and a transaction that does not commit leaves at most
// a gap, as nextval would.
func (t *issuingTx) NextClaimSeq() (uint64, error) {
	if !t.seqRead {
		var last int64
		var called bool
		if err := t.tx.QueryRow(t.ctx, "SELECT last_value, is_called FROM claim_seq").Scan(&last, &called); err != nil {
			return 0, err
		}
		if !called {
			last-- // the next nextval would give last_value itself
		}
		t.seq, t.seqRead = last, true
	}
	t.seq++
	t.seqTaken = true
	return uint64(t.seq), nil
}

// AddClaim adds a claim to those inserted at the next flush; a key or a
// voucher id used already fails the flush, and with it the transaction.
func (t *issuingTx) AddClaim(c *issuing.Claim) error {
	cc := *c
	t.pending = append(t.pending, &cc)
	if t.byKey != nil && cc.Key != "" {
		t.byKey[cc.Key] = &cc
	}
	if cs, ok := t.byHolder[cc.Voucher.Holder]; ok {
		t.byHolder[cc.Voucher.Holder] = append(cs, cc)
	}
	return nil
}

func (t *issuingTx) oneClaim(sql string, args ...any) (issuing.Claim, bool, error) {
	cs, err := t.claims(sql, args...)
	if err != nil || len(cs) == 0 {
		return issuing.Claim{}, false, err
	}
	return cs[0], true, nil
}

// claims reads claims with their stored status (the column is the truth).
func (t *issuingTx) claims(sql string, args ...any) ([]issuing.Claim, error) {
	rows, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (issuing.Claim, error) {
		var c issuing.Claim
		var b []byte
		var st string
		if err := row.Scan(&b, &st); err != nil {
			return c, err
		}
		err := json.Unmarshal(b, &c)
		c.Status = terminal.ClaimStatus(st)
		return c, err
	})
}

func (t *issuingTx) ClaimByKey(key string) (issuing.Claim, bool, error) {
	if c, ok := t.byKey[key]; ok {
		if c == nil {
			return issuing.Claim{}, false, nil
		}
		return *c, true, nil
	}
	if err := t.flush(); err != nil {
		return issuing.Claim{}, false, err
	}
	return t.oneClaim("SELECT body, status FROM claims WHERE idem_key = $1", key)
}

func (t *issuingTx) HolderClaims(h terminal.HolderID) ([]issuing.Claim, error) {
	if cs, ok := t.byHolder[h]; ok {
		return slices.Clone(cs), nil
	}
	if err := t.flush(); err != nil {
		return nil, err
	}
	return t.claims("SELECT body, status FROM claims WHERE holder = $1 ORDER BY seq", int64(h))
}

// Claims reads the claims from seq on (all of them first: the rows must be
// closed before fn queries again) and calls fn in order.
func (t *issuingTx) Claims(from uint64, fn func(*issuing.Claim) (bool, error)) error {
	if err := t.flush(); err != nil {
		return err
	}
	cs, err := t.claims("SELECT body, status FROM claims WHERE seq >= $1 ORDER BY seq", int64(from))
	if err != nil {
		return err
	}
	for i := range cs {
		more, err := fn(&cs[i])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t *issuingTx) SetStatus(seq uint64, st terminal.ClaimStatus) error {
	if err := t.flush(); err != nil {
		return err
	}
	tag, err := t.tx.Exec(t.ctx, "UPDATE claims SET status = $2 WHERE seq = $1", int64(seq), string(st))
	if err == nil && tag.RowsAffected() != 1 {
		err = fmt.Errorf("claim %d missing", seq)
	}
	return err
}

func (t *issuingTx) Swept() (uint64, error) {
	var v []byte
	err := t.tx.QueryRow(t.ctx, "SELECT v FROM issuing_meta WHERE k = 'swept'").Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil || len(v) != 8 {
		return 0, err
	}
	return uint64(v[0])<<56 | uint64(v[1])<<48 | uint64(v[2])<<40 | uint64(v[3])<<32 |
		uint64(v[4])<<24 | uint64(v[5])<<16 | uint64(v[6])<<8 | uint64(v[7]), nil
}

func (t *issuingTx) SetSwept(seq uint64) error {
	v := []byte{byte(seq >> 56), byte(seq >> 48), byte(seq >> 40), byte(seq >> 32), byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq)}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO issuing_meta (k, v) VALUES ('swept', $1)
		ON CONFLICT (k) DO UPDATE SET v = excluded.v`, v)
	return err
}

func (t *issuingTx) Love(h terminal.HolderID) (issuing.Love, bool, error) {
	ls, err := jsonRows[issuing.Love](t, "SELECT body FROM love WHERE holder = $1", int64(h))
	if err != nil || len(ls) == 0 {
		return issuing.Love{}, false, err
	}
	return ls[0], true, nil
}

func (t *issuingTx) AddLove(l *issuing.Love) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	tag, err := t.tx.Exec(t.ctx, "INSERT INTO love (holder, body) VALUES ($1, $2) ON CONFLICT DO NOTHING", int64(l.Holder), b)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("love %s: %w", l.Holder, issuing.ErrExists)
	}
	return err
}

func (t *issuingTx) Loves(fn func(*issuing.Love) error) error {
	ls, err := jsonRows[issuing.Love](t, "SELECT body FROM love ORDER BY holder")
	for i := range ls {
		if err == nil {
			err = fn(&ls[i])
		}
	}
	return err
}

func (t *issuingTx) Redeemed(id terminal.VoucherID) (bool, error) {
	var ok bool
	err := t.tx.QueryRow(t.ctx, "SELECT EXISTS (SELECT 1 FROM voucher_live WHERE voucher_id = $1 AND redeemed_seq IS NOT NULL)", int64(id)).Scan(&ok)
	return ok, err
}

func (t *issuingTx) Revoked(id terminal.VoucherID) (bool, error) {
	var ok bool
	err := t.tx.QueryRow(t.ctx, "SELECT EXISTS (SELECT 1 FROM vouchers WHERE id = $1 AND revoked_at IS NOT NULL)", int64(id)).Scan(&ok)
	return ok, err
}
