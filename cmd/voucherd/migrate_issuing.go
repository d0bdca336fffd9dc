package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/terminal"
)

// The issuing side's part of voucherd migrate: rounds added, budget moves,
// drops, claims, love registrations, the holder secret and the claim and
// drop counters, copied after the hub's ledger and checked with it.

// issuingMigration copies the issuing side of m.src into m.dst.
type issuingMigration struct {
	m        *migration
	src      *boltstore.Issuing
	dst      *pgstore.Issuing
	counters boltstore.IssuingCounters
	claims   int
}

func newIssuingMigration(m *migration) (*issuingMigration, error) {
	src, err := m.src.Issuing()
	if err != nil {
		return nil, err
	}
	c, err := m.src.IssuingCounters(m.ctx)
	if err != nil {
		return nil, err
	}
	return &issuingMigration{m: m, src: src, dst: m.dst.Issuing(), counters: c}, nil
}

// srcView runs fn on the embedded issuing side (nothing when it has none).
func (im *issuingMigration) srcView(fn func(issuing.Tx) error) error {
	if !im.counters.Present {
		return nil
	}
	return im.src.View(im.m.ctx, fn)
}

func (im *issuingMigration) rounds() (int, error) {
	var rs []terminal.IssueRound
	err := im.srcView(func(tx issuing.Tx) (err error) { rs, err = tx.Rounds(); return err })
	if err != nil || len(rs) == 0 {
		return 0, err
	}
	return len(rs), im.dst.Update(im.m.ctx, func(tx issuing.Tx) error {
		for _, r := range rs {
			if err := tx.AddRound(r); err != nil {
				return err
			}
		}
		return nil
	})
}

func (im *issuingMigration) moves() (int, error) {
	var ms []terminal.BudgetMove
	err := im.srcView(func(tx issuing.Tx) (err error) { ms, err = tx.Moves(); return err })
	if err != nil || len(ms) == 0 {
		return 0, err
	}
	return len(ms), im.dst.Update(im.m.ctx, func(tx issuing.Tx) error {
		for _, mv := range ms {
			if err := tx.AddMove(mv); err != nil {
				return err
			}
		}
		return nil
	})
}

func (im *issuingMigration) drops() (int, error) {
	var ds []terminal.Drop
	err := im.srcView(func(tx issuing.Tx) (err error) { ds, err = tx.Drops(); return err })
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	return len(ds), im.dst.Update(im.m.ctx, func(tx issuing.Tx) error {
		for i := range ds {
			if ds[i].ID == 0 {
				return errors.New("a drop without an id")
			}
			if err := tx.PutDrop(&ds[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// claimChunk reads up to migrateChunk claims from seq from on.
func claimChunk(view func(func(issuing.Tx) error) error, from uint64) ([]issuing.Claim, error) {
	var cs []issuing.Claim
	err := view(func(tx issuing.Tx) error {
		cs = cs[:0]
		return tx.Claims(from, func(c *issuing.Claim) (bool, error) {
			cs = append(cs, *c)
			return len(cs) < migrateChunk, nil
		})
	})
	return cs, err
}

func (im *issuingMigration) claimsCopy() (int, error) {
	n := 0
	for from := uint64(0); ; {
		cs, err := claimChunk(im.srcView, from)
		if err != nil || len(cs) == 0 {
			im.claims = n
			return n, err
		}
		err = im.dst.Update(im.m.ctx, func(tx issuing.Tx) error {
			for i := range cs {
				if err := tx.AddClaim(&cs[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(cs)
		from = cs[len(cs)-1].Seq + 1
	}
}

func (im *issuingMigration) loves() (int, error) {
	var ls []issuing.Love
	err := im.srcView(func(tx issuing.Tx) error {
		return tx.Loves(func(l *issuing.Love) error { ls = append(ls, *l); return nil })
	})
	if err != nil || len(ls) == 0 {
		return 0, err
	}
	return len(ls), im.dst.Update(im.m.ctx, func(tx issuing.Tx) error {
		for i := range ls {
			if err := tx.AddLove(&ls[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// secret returns the embedded holder secret (nil if none was made).
func (im *issuingMigration) secret() ([]byte, error) {
	var sec []byte
	err := im.srcView(func(tx issuing.Tx) error {
		s, err := tx.Secret(false)
		if err == nil {
			sec = s
		}
		return nil // none made yet: nothing to copy
	})
	return sec, err
}

// counters copies the holder secret and the claim and drop counters.
func (im *issuingMigration) countersCopy() (int, error) {
	if !im.counters.Present {
		return 0, nil
	}
	sec, err := im.secret()
	if err != nil {
		return 0, err
	}
	n := 2
	if sec != nil {
		n++
	}
	return n, im.dst.SetIssuingCounters(im.m.ctx, sec, im.counters.ClaimSeq, im.counters.DropSeq)
}

// verify compares the issuing side of the copy with the source: every
// round, budget move, drop, claim (with its status) and love registration
// equal, as well as the holder secret and the counters.
func (im *issuingMigration) verify() error {
	if !im.counters.Present {
		return nil
	}
	dstView := func(fn func(issuing.Tx) error) error { return im.dst.View(im.m.ctx, fn) }
	type lists struct {
		Rounds []terminal.IssueRound
		Moves  []terminal.BudgetMove
		Drops  []terminal.Drop
		Loves  []issuing.Love
		Secret []byte
	}
	read := func(view func(func(issuing.Tx) error) error) (l lists, err error) {
		err = view(func(tx issuing.Tx) (err error) {
			if l.Rounds, err = tx.Rounds(); err != nil {
				return err
			}
			if l.Moves, err = tx.Moves(); err != nil {
				return err
			}
			if l.Drops, err = tx.Drops(); err != nil {
				return err
			}
			if l.Secret, err = tx.Secret(false); err != nil {
				l.Secret = nil
			}
			return tx.Loves(func(x *issuing.Love) error { l.Loves = append(l.Loves, *x); return nil })
		})
		return l, err
	}
	a, err := read(im.srcView)
	if err != nil {
		return err
	}
	b, err := read(dstView)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		what string
		a, b any
		na   int
		nb   int
	}{
		{"rounds", a.Rounds, b.Rounds, len(a.Rounds), len(b.Rounds)},
		{"budget moves", a.Moves, b.Moves, len(a.Moves), len(b.Moves)},
		{"drops", a.Drops, b.Drops, len(a.Drops), len(b.Drops)},
		{"love registrations", a.Loves, b.Loves, len(a.Loves), len(b.Loves)},
	} {
		if c.na != c.nb {
			return fmt.Errorf("%s: %d embedded, %d in PostgreSQL", c.what, c.na, c.nb)
		}
		if c.na > 0 && !sameJSON(c.a, c.b) {
			return fmt.Errorf("%s differ", c.what)
		}
	}
	if !bytes.Equal(a.Secret, b.Secret) {
		return errors.New("the holder secret differs")
	}
	claimSeq, dropSeq, err := im.dst.IssuingCounters(im.m.ctx)
	if err != nil {
		return err
	}
	if claimSeq != im.counters.ClaimSeq || dropSeq != im.counters.DropSeq {
		return fmt.Errorf("counters: last claim number %d, drop %d in PostgreSQL; %d, %d embedded",
			claimSeq, dropSeq, im.counters.ClaimSeq, im.counters.DropSeq)
	}
	n := 0
	for from := uint64(0); ; {
		ca, err := claimChunk(im.srcView, from)
		if err != nil {
			return err
		}
		cb, err := claimChunk(dstView, from)
		if err != nil {
			return err
		}
		if len(ca) != len(cb) || len(ca) > 0 && !sameJSON(ca, cb) {
			return fmt.Errorf("claims from number %d differ", from)
		}
		if len(ca) == 0 {
			break
		}
		n += len(ca)
		from = ca[len(ca)-1].Seq + 1
	}
	if n != im.claims {
		return fmt.Errorf("claims: %d copied, %d checked", im.claims, n)
	}
	return nil
}

// sameJSON reports whether a and b encode to the same JSON.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
