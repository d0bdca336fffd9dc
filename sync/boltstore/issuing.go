package boltstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// Buckets of the issuing side, in the same file as the hub's ledger.
var (
	bIssuingMeta  = []byte("issuing_meta")  // kSecret → holder pseudonym key; kSwept → claim seq u64
	bRounds       = []byte("rounds")        // seq u64 → JSON terminal.IssueRound (rounds added)
	bMoves        = []byte("budget_moves")  // seq u64 → JSON terminal.BudgetMove
	bDrops        = []byte("drops")         // drop id u64 → JSON terminal.Drop
	bClaims       = []byte("claims")        // claim seq u64 → JSON issuing.Claim
	bClaimHolders = []byte("claim_holders") // holder u64 ‖ claim seq u64 → empty
	bClaimKeys    = []byte("claim_keys")    // Idempotency-Key → claim seq u64
	bLove         = []byte("love")          // holder u64 → JSON issuing.Love

	issuingBuckets = [][]byte{bIssuingMeta, bRounds, bMoves, bDrops, bClaims, bClaimHolders, bClaimKeys, bLove}

	kSecret = []byte("holder_secret")
	kSwept  = []byte("swept")
)

// Issuing is the issuing side's store in the hub's bbolt file.
type Issuing struct {
	db *bolt.DB
}

var _ issuing.Store = (*Issuing)(nil)

// NewIssuing returns the issuing store over an open bbolt file, creating
// its buckets if missing (not on a read-only file).
func NewIssuing(db *bolt.DB) (*Issuing, error) {
	if !db.IsReadOnly() {
		err := db.Update(func(tx *bolt.Tx) error {
			for _, b := range issuingBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("issuing buckets: %w", err)
		}
	}
	return &Issuing{db: db}, nil
}

// Update runs fn in one bbolt write transaction: one fsync.
func (s *Issuing) Update(ctx context.Context, fn func(issuing.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return fn(issuingTx{tx}) })
}

// View runs fn in a bbolt read transaction.
func (s *Issuing) View(ctx context.Context, fn func(issuing.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(issuingTx{tx}) })
}

type issuingTx struct{ tx *bolt.Tx }

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
	if cb.Get(key) != nil {
		return fmt.Errorf("claim %d exists", c.Seq)
	}
	if err := putJSON(cb, key, c); err != nil {
		return err
	}
	hk := binary.BigEndian.AppendUint64(u64(uint64(c.Voucher.Holder)), c.Seq)
	if err := t.tx.Bucket(bClaimHolders).Put(hk, nil); err != nil {
		return err
	}
	if c.Key != "" {
		return t.tx.Bucket(bClaimKeys).Put([]byte(c.Key), key)
	}
	return nil
}

func (t issuingTx) claim(seq []byte) (issuing.Claim, bool, error) {
	var c issuing.Claim
	v := t.tx.Bucket(bClaims).Get(seq)
	if v == nil {
		return c, false, nil
	}
	if err := json.Unmarshal(v, &c); err != nil {
		return c, false, fmt.Errorf("claim %x: %w", seq, err)
	}
	return c, true, nil
}

func (t issuingTx) ClaimByKey(key string) (issuing.Claim, bool, error) {
	b, err := t.bucket(bClaimKeys)
	if err != nil {
		return issuing.Claim{}, false, err
	}
	seq := b.Get([]byte(key))
	if seq == nil {
		return issuing.Claim{}, false, nil
	}
	return t.claim(seq)
}

func (t issuingTx) HolderClaims(h terminal.HolderID) ([]issuing.Claim, error) {
	b, err := t.bucket(bClaimHolders)
	if err != nil {
		return nil, err
	}
	prefix := u64(uint64(h))
	var out []issuing.Claim
	c := b.Cursor()
	for k, _ := c.Seek(prefix); len(k) == 16 && string(k[:8]) == string(prefix); k, _ = c.Next() {
		cl, ok, err := t.claim(k[8:])
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("holder index names claim %x, which is missing", k[8:])
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
		if err := json.Unmarshal(v, &cl); err != nil {
			return fmt.Errorf("claim %x: %w", k, err)
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
	return putJSON(t.tx.Bucket(bClaims), u64(seq), &c)
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
	return b.Get(u64(uint64(id))) != nil, nil
}

// Issuing returns the issuing side's store in the same file as the hub's ledger.
func (s *Store) Issuing() (*Issuing, error) { return NewIssuing(s.db) }

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
