package boltstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	gosync "sync"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// Buckets of the issuing side, in the same file as the hub's ledger.
var (
	bIssuingMeta = []byte("issuing_meta") // kSecret → holder pseudonym key; kSwept → claim seq u64
	bRounds      = []byte("rounds")       // seq u64 → JSON terminal.IssueRound (rounds added)
	bMoves       = []byte("budget_moves") // seq u64 → JSON terminal.BudgetMove
	bDrops       = []byte("drops")        // drop id u64 → JSON terminal.Drop
	bClaims      = []byte("claims")       // claim seq u64 → issuing.Claim (encodeClaim; older ones JSON)
	bLove        = []byte("love")         // holder u64 → JSON issuing.Love

	issuingBuckets = [][]byte{bIssuingMeta, bRounds, bMoves, bDrops, bClaims, bLove}

	// The claims' indexes by holder and by Idempotency-Key were buckets
	// once; they are kept in memory now (claimIndex) and removed at open.
	bClaimHolders = []byte("claim_holders")
	bClaimKeys    = []byte("claim_keys")

	kSecret = []byte("holder_secret")
	kSwept  = []byte("swept")
)

// Issuing is the issuing side's store in the hub's bbolt file. Open one
// per file (Store.Issuing): it keeps the claims' indexes in memory.
type Issuing struct {
	db *bolt.DB
	// wmu serialises Update, so that a commit's index entries are in idx
	// before the next write transaction reads it.
	wmu gosync.Mutex
	mu  gosync.RWMutex // guards idx
	idx claimIndex
	// logs is the voucher index's log as the issuing side last read it
	// (voucherlog.go): the hub's store shares its own.
	logs *logCache
}

var _ issuing.Store = (*Issuing)(nil)

// claimIndex finds claims by holder and by Idempotency-Key. It lives in
// memory, rebuilt from the claims bucket at open, rather than in buckets of
// its own: holder pseudonyms and keys are random, so each claim's entry
// would dirty a leaf page of its own, and every group commit would write
// (and fsync) a page per claim per index: a sixth of the rate, measured
// (docs/issuing.md, "Speed"). The claims bucket is keyed by sequence, so a
// group appends to its last pages only.
type claimIndex struct {
	holders map[terminal.HolderID][]uint64 // claim seqs, oldest first
	keys    map[string]uint64
	last    uint64 // the largest claim seq
}

func newClaimIndex() claimIndex {
	return claimIndex{holders: map[terminal.HolderID][]uint64{}, keys: map[string]uint64{}}
}

func (x *claimIndex) add(h terminal.HolderID, key string, seq uint64) {
	x.last = max(x.last, seq)
	x.holders[h] = append(x.holders[h], seq)
	if key != "" {
		x.keys[key] = seq
	}
}

// indexed is an index entry a write transaction added, taken out again
// if the transaction fails (undo).
type indexed struct {
	holder terminal.HolderID
	key    string
}

// undo removes the entries a failed write transaction added, newest
// first, and puts last back.
func (x *claimIndex) undo(added []indexed, last uint64) {
	for i := len(added) - 1; i >= 0; i-- {
		e := added[i]
		if seqs := x.holders[e.holder]; len(seqs) > 1 {
			x.holders[e.holder] = seqs[:len(seqs)-1]
		} else {
			delete(x.holders, e.holder)
		}
		if e.key != "" {
			delete(x.keys, e.key)
		}
	}
	x.last = last
}

// NewIssuing returns the issuing store over an open bbolt file, creating
// its buckets if missing and removing the old index buckets (not on a
// read-only file), and reads every claim into its indexes.
func NewIssuing(db *bolt.DB) (*Issuing, error) {
	if !db.IsReadOnly() {
		err := db.Update(func(tx *bolt.Tx) error {
			for _, b := range issuingBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			for _, b := range [][]byte{bClaimHolders, bClaimKeys} {
				if tx.Bucket(b) != nil {
					if err := tx.DeleteBucket(b); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("issuing buckets: %w", err)
		}
	}
	s := &Issuing{db: db, idx: newClaimIndex(), logs: &logCache{}}
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bClaims)
		if b == nil {
			return nil // a read-only file from before issuing
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("claim key %x: %w", k, ErrDamaged)
			}
			h, key, err := claimIndexed(k, v)
			if err != nil {
				return err
			}
			s.idx.add(h, key, binary.BigEndian.Uint64(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("issuing: read claims: %w", err)
	}
	return s, nil
}

// Update runs fn in one bbolt write transaction: one fsync (two
// fdatasyncs in bbolt: the pages, then the meta page). The claims it adds
// join the indexes as they are added (read transactions leave out what
// their snapshot does not have: see below), and leave them again if the
// transaction fails: no second map of the transaction's own to merge.
func (s *Issuing) Update(ctx context.Context, fn func(issuing.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	last := s.idx.last
	s.mu.RUnlock()
	var added []indexed
	err := s.db.Update(func(tx *bolt.Tx) error {
		// Claims are appended in seq order (a claim's status changes in
		// place): pages are filled as the write path's appends are.
		if b := tx.Bucket(bClaims); b != nil {
			b.FillPercent = appendFill
		}
		return fn(issuingTx{tx: tx, s: s, added: &added})
	})
	if err != nil && len(added) > 0 {
		s.mu.Lock()
		s.idx.undo(added, last)
		s.mu.Unlock()
	}
	return err
}

// View runs fn in a bbolt read transaction.
func (s *Issuing) View(ctx context.Context, fn func(issuing.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(issuingTx{tx: tx, s: s}) })
}

// issuingTx is one transaction; added holds the index entries of the
// claims a write transaction added (nil in a read transaction).
type issuingTx struct {
	tx    *bolt.Tx
	s     *Issuing
	added *[]indexed
}

func (t issuingTx) bucket(name []byte) (*bolt.Bucket, error) {
	b := t.tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("issuing: bucket %s missing", name)
	}
	return b, nil
}

func (t issuingTx) Secret(create bool) ([]byte, error) {
	b, err := t.bucket(bIssuingMeta)
	if err != nil {
		return nil, err
	}
	if v := b.Get(kSecret); len(v) == 32 {
		return append([]byte(nil), v...), nil
	}
	if !create {
		return nil, fmt.Errorf("issuing: no holder secret")
	}
	sec := make([]byte, 32)
	if _, err := rand.Read(sec); err != nil {
		return nil, err
	}
	return sec, b.Put(kSecret, sec)
}

// jsonList returns every value of bucket name decoded, in key order.
func jsonList[T any](t issuingTx, name []byte) ([]T, error) {
	b, err := t.bucket(name)
	if err != nil {
		return nil, err
	}
	var out []T
	err = b.ForEach(func(k, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("%s %x: %w", name, k, err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

func appendJSON(t issuingTx, name []byte, v any) error {
	b, err := t.bucket(name)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return putJSON(b, u64(seq), v)
}

func (t issuingTx) Rounds() ([]terminal.IssueRound, error) {
	return jsonList[terminal.IssueRound](t, bRounds)
}

func (t issuingTx) AddRound(r terminal.IssueRound) error { return appendJSON(t, bRounds, &r) }

func (t issuingTx) Moves() ([]terminal.BudgetMove, error) {
	return jsonList[terminal.BudgetMove](t, bMoves)
}

func (t issuingTx) AddMove(m terminal.BudgetMove) error { return appendJSON(t, bMoves, &m) }

func (t issuingTx) Drops() ([]terminal.Drop, error) { return jsonList[terminal.Drop](t, bDrops) }

func (t issuingTx) PutDrop(d *terminal.Drop) error {
	b, err := t.bucket(bDrops)
	if err != nil {
		return err
	}
	if d.ID == 0 {
		if d.ID, err = b.NextSequence(); err != nil {
			return err
		}
	}
	return putJSON(b, u64(d.ID), d)
}

func (t issuingTx) NextClaimSeq() (uint64, error) {
	b, err := t.bucket(bClaims)
	if err != nil {
		return 0, err
	}
	return b.NextSequence()
}

func (t issuingTx) AddClaim(c *issuing.Claim) error {
	cb, err := t.bucket(bClaims)
	if err != nil {
		return err
	}
	key := u64(c.Seq)
	if t.added == nil {
		return fmt.Errorf("issuing: add claim in a read transaction")
	}
	// Claims come in seq order: one above every seq stored cannot exist, and
	// the look-up (a second descent of the tree) is left out. Only this
	// transaction writes the index (Update holds wmu).
	x := &t.s.idx
	if c.Seq <= x.last && cb.Get(key) != nil {
		return fmt.Errorf("claim %d exists", c.Seq)
	}
	if _, ok := x.keys[c.Key]; ok && c.Key != "" {
		return fmt.Errorf("claim %d: idempotency key used by another claim", c.Seq)
	}
	if err := putClaim(cb, key, c); err != nil {
		return err
	}
	*t.added = append(*t.added, indexed{holder: c.Voucher.Holder, key: c.Key})
	t.s.mu.Lock()
	x.add(c.Voucher.Holder, c.Key, c.Seq)
	t.s.mu.Unlock()
	return nil
}

// keySeq returns the seq of the claim made with an idempotency key.
func (t issuingTx) keySeq(key string) (uint64, bool) {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	seq, ok := t.s.idx.keys[key]
	return seq, ok
}

func putClaim(b *bolt.Bucket, key []byte, c *issuing.Claim) error {
	v, err := encodeClaim(c)
	if err != nil {
		return err
	}
	return b.Put(key, v)
}

func (t issuingTx) claim(seq []byte) (issuing.Claim, bool, error) {
	var c issuing.Claim
	v := t.tx.Bucket(bClaims).Get(seq)
	if v == nil {
		return c, false, nil
	}
	if err := decodeClaim(seq, v, &c); err != nil {
		return c, false, err
	}
	return c, true, nil
}

// The indexes may name a claim a read transaction, opened before its
// commit, does not see yet: it is left out, as the transaction's snapshot
// has it. A write transaction sees every indexed claim (Update holds wmu).

func (t issuingTx) ClaimByKey(key string) (issuing.Claim, bool, error) {
	seq, ok := t.keySeq(key)
	if !ok {
		return issuing.Claim{}, false, nil
	}
	c, ok, err := t.claim(u64(seq))
	if err == nil && !ok && t.added != nil {
		err = fmt.Errorf("key index names claim %d, which is missing", seq)
	}
	return c, ok, err
}

func (t issuingTx) HolderClaims(h terminal.HolderID) ([]issuing.Claim, error) {
	t.s.mu.RLock()
	seqs := slices.Clone(t.s.idx.holders[h])
	t.s.mu.RUnlock()
	var out []issuing.Claim
	for _, seq := range seqs {
		cl, ok, err := t.claim(u64(seq))
		if err != nil {
			return nil, err
		}
		if !ok {
			if t.added != nil {
				return nil, fmt.Errorf("holder index names claim %d, which is missing", seq)
			}
			continue
		}
		out = append(out, cl)
	}
	return out, nil
}

func (t issuingTx) Claims(from uint64, fn func(*issuing.Claim) (bool, error)) error {
	b, err := t.bucket(bClaims)
	if err != nil {
		return err
	}
	c := b.Cursor()
	for k, v := c.Seek(u64(from)); k != nil; k, v = c.Next() {
		var cl issuing.Claim
		if err := decodeClaim(k, v, &cl); err != nil {
			return err
		}
		more, err := fn(&cl)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t issuingTx) SetStatus(seq uint64, st terminal.ClaimStatus) error {
	c, ok, err := t.claim(u64(seq))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("claim %d missing", seq)
	}
	c.Status = st
	return putClaim(t.tx.Bucket(bClaims), u64(seq), &c)
}

func (t issuingTx) Swept() (uint64, error) {
	b, err := t.bucket(bIssuingMeta)
	if err != nil {
		return 0, err
	}
	v := b.Get(kSwept)
	if len(v) != 8 {
		return 0, nil
	}
	return binary.BigEndian.Uint64(v), nil
}

func (t issuingTx) SetSwept(seq uint64) error {
	return t.tx.Bucket(bIssuingMeta).Put(kSwept, u64(seq))
}

func (t issuingTx) Love(h terminal.HolderID) (issuing.Love, bool, error) {
	var l issuing.Love
	b, err := t.bucket(bLove)
	if err != nil {
		return l, false, err
	}
	v := b.Get(u64(uint64(h)))
	if v == nil {
		return l, false, nil
	}
	if err := json.Unmarshal(v, &l); err != nil {
		return l, false, fmt.Errorf("love %s: %w", h, err)
	}
	return l, true, nil
}

func (t issuingTx) AddLove(l *issuing.Love) error {
	b, err := t.bucket(bLove)
	if err != nil {
		return err
	}
	k := u64(uint64(l.Holder))
	if b.Get(k) != nil {
		return fmt.Errorf("love %s: %w", l.Holder, issuing.ErrExists)
	}
	return putJSON(b, k, l)
}

func (t issuingTx) Loves(fn func(*issuing.Love) error) error {
	ls, err := jsonList[issuing.Love](t, bLove)
	for i := range ls {
		if err == nil {
			err = fn(&ls[i])
		}
	}
	return err
}

func (t issuingTx) Revoked(id terminal.VoucherID) (bool, error) {
	b := t.tx.Bucket(bRevoked)
	if b == nil {
		return false, nil
	}
	return b.Get(u64(uint64(id))) != nil, nil
}

func (t issuingTx) Redeemed(id terminal.VoucherID) (bool, error) {
	b := t.tx.Bucket(bVouchers)
	if b == nil {
		return false, nil // no redemption synced yet
	}
	l, err := t.s.logs.at(t.tx)
	if err != nil {
		return false, err
	}
	if _, ok := l.live[id]; ok {
		return true, nil
	}
	return b.Get(u64(uint64(id))) != nil, nil
}

// Issuing returns the issuing side's store in the same file as the hub's
// ledger: the same one at every call, as it keeps indexes in memory.
func (s *Store) Issuing() (*Issuing, error) {
	s.issuingOnce.Do(func() {
		if s.issuing, s.issuingErr = NewIssuing(s.db); s.issuing != nil {
			s.issuing.logs = &s.logs
		}
	})
	return s.issuing, s.issuingErr
}

// OpenServer opens the embedded store in dir (creating it with
// hopts.Create) and starts the hub and the issuing side over it; the
// issuing side signs with the hub's keys. Close the service before the hub,
// which closes the store.
func OpenServer(dir string, hopts hub.Options, iopts issuing.Options) (*hub.Hub, *issuing.Service, error) {
	st, err := Open(dir, Options{Create: hopts.Create})
	if err != nil {
		return nil, nil, err
	}
	h, err := hub.New(st, hopts)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	is, err := st.Issuing()
	if err == nil {
		if iopts.Now == nil {
			iopts.Now = hopts.Now
		}
		if iopts.Logf == nil {
			iopts.Logf = hopts.Logf
		}
		var svc *issuing.Service
		if svc, err = issuing.OpenWith(is, h, iopts); err == nil {
			return h, svc, nil
		}
	}
	_ = h.Close()
	return nil, nil, err
}
