package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/terminal"
)

// migrateChunk is how many records one transaction of the copy carries.
const migrateChunk = 5000

// cmdMigrate copies a stopped server's embedded ledger, the hub's and the
// issuing side's (migrate_issuing.go), into an empty PostgreSQL database,
// then checks the copy: counts, every terminal's chain head, every day's
// report and every issuing row equal. DIR is opened read-only.
func cmdMigrate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate")
	var l ledgerFlags
	l.register(fs, "data directory of the stopped embedded server (read only)")
	if err := parse(fs, args); err != nil {
		return err
	}
	data := &l.data
	if err := need("migrate", [2]string{"data", *data}, [2]string{"db", l.db}, [2]string{"key-file", l.keyFile}); err != nil {
		return err
	}
	ctx := context.Background()
	src, err := boltstore.Open(*data, boltstore.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer src.Close()
	if err := l.initStore(ctx, stderr); err != nil {
		return err
	}
	dst, err := pgstore.Open(ctx, l.db, pgstore.Options{KeyFile: l.keyFile})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer dst.Close()
	if err := checkEmpty(ctx, dst); err != nil {
		return err
	}
	m := &migration{ctx: ctx, src: src, dst: dst, days: map[time.Time]bool{}}
	im, err := newIssuingMigration(m)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, step := range []struct {
		what string
		fn   func() (int, error)
	}{
		{"issuing keys", m.keys}, {"params", m.params}, {"merchants", m.merchants}, {"terminals", m.terminals},
		{"minted codes", m.minted}, {"revocations", m.revocations}, {"records", m.records},
		{"live redemptions", m.redemptions}, {"holds", m.holds}, {"conflicts", m.conflicts},
		{"memos", m.memos}, {"admin log entries", m.actions},
		{"issue rounds", im.rounds}, {"budget moves", im.moves}, {"drops", im.drops}, {"claims", im.claimsCopy},
		{"love registrations", im.loves}, {"issuing counters (holder secret, last claim number, last drop id)", im.countersCopy},
	} {
		n, err := step.fn()
		if err != nil {
			return fmt.Errorf("migrate %s: %w", step.what, err)
		}
		fmt.Fprintf(stdout, "copied %d %s\n", n, step.what)
	}
	if err := m.verify(); err != nil {
		return fmt.Errorf("migrate: check of the copy failed: %w", err)
	}
	if err := im.verify(); err != nil {
		return fmt.Errorf("migrate: check of the issuing side's copy failed: %w", err)
	}
	fmt.Fprintf(stdout, "checked: counts, %d chain heads, the reports of %d days and the issuing side (rounds, budget moves, drops, %d claims, love registrations, counters) are equal; %s is untouched\n",
		m.heads, len(m.days), im.claims, *data)
	return nil
}

// checkEmpty refuses a database that already holds a ledger.
func checkEmpty(ctx context.Context, dst *pgstore.Store) error {
	ms, err := dst.Merchants(ctx)
	if err != nil {
		return err
	}
	_, kerr := dst.IssuingKeys(ctx)
	if len(ms) > 0 || !errors.Is(kerr, hub.ErrNotInitialised) {
		return errors.New("migrate: the database is not empty (it has merchants or issuing keys); migrate copies into an empty one")
	}
	return nil
}

type migration struct {
	ctx   context.Context
	src   *boltstore.Store
	dst   *pgstore.Store
	days  map[time.Time]bool
	heads int
}

func (m *migration) keys() (int, error) {
	ks, err := m.src.IssuingKeys(m.ctx)
	if err != nil {
		return 0, err
	}
	if err := m.dst.InitKeys(m.ctx, ks.Identity); err != nil {
		return 0, err
	}
	for _, k := range ks.All {
		if !k.Equal(ks.Identity) {
			if err := m.dst.AddKey(m.ctx, k, k.Equal(ks.Current)); err != nil {
				return 0, err
			}
		}
	}
	return len(ks.All), nil
}

func (m *migration) params() (int, error) {
	p, err := m.src.Params(m.ctx)
	if err != nil || p == (terminal.Params{}) {
		return 0, err
	}
	return 1, m.dst.SetParams(m.ctx, p)
}

func (m *migration) merchants() (int, error) {
	ms, err := m.src.Merchants(m.ctx)
	if err != nil {
		return 0, err
	}
	for _, mer := range ms {
		if err := m.dst.AddMerchant(m.ctx, mer); err != nil {
			return 0, err
		}
	}
	return len(ms), nil
}

func (m *migration) terminals() (int, error) {
	ts, err := m.src.Terminals(m.ctx)
	if err != nil {
		return 0, err
	}
	for _, t := range ts {
		if err := m.dst.AddTerminal(m.ctx, t); err != nil {
			return 0, err
		}
	}
	return len(ts), nil
}

func (m *migration) minted() (int, error) {
	var batch []hub.Minted
	n := 0
	flush := func() error {
		n += len(batch)
		err := m.dst.AddMinted(m.ctx, batch)
		batch = batch[:0]
		return err
	}
	err := m.src.EachMinted(m.ctx, func(c hub.Minted) error {
		if batch = append(batch, c); len(batch) == 50_000 {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	return n, err
}

func (m *migration) revocations() (int, error) {
	ids, err := m.src.Revocations(m.ctx)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		// The embedded ledger keeps the revocation's second; the hub never reads it.
		if err := m.dst.Revoke(m.ctx, id, time.Now()); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// commit writes one transaction of the copy through the store's Tx.
func (m *migration) commit(keys *hub.Keys, fn func(hub.Tx) error) error {
	return m.dst.Commit(m.ctx, keys, fn)
}

func (m *migration) records() (int, error) {
	var batch []hub.StoredRecord
	n := 0
	flush := func() error {
		n += len(batch)
		err := m.commit(&hub.Keys{}, func(tx hub.Tx) error {
			for i := range batch {
				if err := tx.PutRecord(&batch[i]); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	err := m.src.EachRecord(m.ctx, func(r *hub.StoredRecord) error {
		c := *r
		c.Sig, c.Body = bytes.Clone(r.Sig), bytes.Clone(r.Body)
		m.days[terminal.Day(r.At)] = true
		if batch = append(batch, c); len(batch) == migrateChunk {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err != nil {
		return n, err
	}
	var terms []string
	var heads []hub.Head
	err = m.src.EachHead(m.ctx, func(t string, h hub.Head) error {
		terms, heads = append(terms, t), append(heads, h)
		return nil
	})
	if err != nil {
		return n, err
	}
	m.heads = len(terms)
	err = m.commit(&hub.Keys{Terminals: terms}, func(tx hub.Tx) error {
		for i, t := range terms {
			if err := tx.SetHead(t, heads[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

func (m *migration) redemptions() (int, error) {
	var vs []terminal.VoucherID
	var ids []string
	err := m.src.EachRedemption(m.ctx, func(v terminal.VoucherID, id string) error {
		vs, ids = append(vs, v), append(ids, id)
		return nil
	})
	for i := 0; err == nil && i < len(vs); i += migrateChunk {
		j := min(i+migrateChunk, len(vs))
		err = m.commit(&hub.Keys{Vouchers: vs[i:j]}, func(tx hub.Tx) error {
			for k := i; k < j; k++ {
				if err := tx.SetRedeemed(vs[k], ids[k]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return len(vs), err
}

func (m *migration) holds() (int, error) {
	var vs []terminal.VoucherID
	var hs []hub.Hold
	err := m.src.EachHold(m.ctx, func(v terminal.VoucherID, h hub.Hold) error {
		vs, hs = append(vs, v), append(hs, h)
		return nil
	})
	if err != nil || len(vs) == 0 {
		return 0, err
	}
	return len(vs), m.commit(&hub.Keys{Vouchers: vs}, func(tx hub.Tx) error {
		for i, v := range vs {
			if err := tx.PutHold(v, hs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *migration) conflicts() (int, error) {
	var cs []hub.Conflict
	err := m.src.Conflicts(m.ctx, func(c *hub.Conflict) error { cs = append(cs, *c); return nil })
	if err != nil || len(cs) == 0 {
		return 0, err
	}
	return len(cs), m.commit(&hub.Keys{}, func(tx hub.Tx) error {
		for i := range cs {
			if err := tx.AddConflict(&cs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *migration) memos() (int, error) {
	var keys []string
	var vals [][]byte
	err := m.src.EachMemo(m.ctx, func(k string, v []byte) error {
		keys, vals = append(keys, k), append(vals, bytes.Clone(v))
		return nil
	})
	for i := 0; err == nil && i < len(keys); i += migrateChunk {
		j := min(i+migrateChunk, len(keys))
		err = m.commit(&hub.Keys{Memos: keys[i:j]}, func(tx hub.Tx) error {
			for k := i; k < j; k++ {
				if err := tx.PutMemo(keys[k], vals[k]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return len(keys), err
}

func (m *migration) actions() (int, error) {
	n := 0
	err := m.src.Actions(m.ctx, func(a *hub.Action) error { n++; return m.dst.AddAction(m.ctx, *a) })
	return n, err
}

// verify compares the copy with the source: counts of merchants,
// terminals, records, conflicts and revocations, every chain head, and
// every day's report as the hub computes it.
func (m *migration) verify() error {
	type counts struct{ merchants, terminals, records, conflicts, revocations int }
	count := func(s hub.Store, each func(func(*hub.StoredRecord) error) error) (c counts, err error) {
		ms, err := s.Merchants(m.ctx)
		if err != nil {
			return c, err
		}
		ts, err := s.Terminals(m.ctx)
		if err != nil {
			return c, err
		}
		rv, err := s.Revocations(m.ctx)
		if err != nil {
			return c, err
		}
		c.merchants, c.terminals, c.revocations = len(ms), len(ts), len(rv)
		if err := s.Conflicts(m.ctx, func(*hub.Conflict) error { c.conflicts++; return nil }); err != nil {
			return c, err
		}
		return c, each(func(*hub.StoredRecord) error { c.records++; return nil })
	}
	days := slices.Collect(func(yield func(time.Time) bool) {
		for d := range m.days {
			if !yield(d) {
				return
			}
		}
	})
	slices.SortFunc(days, func(a, b time.Time) int { return a.Compare(b) })
	allDays := func(s hub.Store) func(func(*hub.StoredRecord) error) error {
		return func(fn func(*hub.StoredRecord) error) error {
			for _, d := range days {
				if err := s.DayRecords(m.ctx, d, "", fn); err != nil {
					return err
				}
			}
			return nil
		}
	}
	a, err := count(m.src, func(fn func(*hub.StoredRecord) error) error { return m.src.EachRecord(m.ctx, fn) })
	if err != nil {
		return err
	}
	b, err := count(m.dst, allDays(m.dst))
	if err != nil {
		return err
	}
	if a != b {
		return fmt.Errorf("counts differ: embedded %+v, PostgreSQL %+v", a, b)
	}
	err = m.src.EachHead(m.ctx, func(t string, h hub.Head) error {
		got, err := m.dst.Head(m.ctx, t)
		if err == nil && got != h {
			err = fmt.Errorf("terminal %s: chain head %d in PostgreSQL, %d embedded", t, got.Seq, h.Seq)
		}
		return err
	})
	if err != nil {
		return err
	}
	quiet := hub.Options{Logf: func(string, ...any) {}}
	ha, err := hub.New(readOnly{m.src}, quiet)
	if err != nil {
		return err
	}
	defer ha.Close()
	hb, err := hub.New(readOnly{m.dst}, quiet)
	if err != nil {
		return err
	}
	defer hb.Close()
	for _, d := range days {
		ra, err := ha.Report(m.ctx, d, "")
		if err != nil {
			return err
		}
		rb, err := hb.Report(m.ctx, d, "")
		if err != nil {
			return err
		}
		ja, _ := json.Marshal(ra)
		jb, _ := json.Marshal(rb)
		if !bytes.Equal(ja, jb) {
			return fmt.Errorf("the report of %s differs", d.Format(time.DateOnly))
		}
	}
	return nil
}

// readOnly lends a store to a hub for reports without letting the hub
// close it.
type readOnly struct{ hub.Store }

func (readOnly) Close() error { return nil }
