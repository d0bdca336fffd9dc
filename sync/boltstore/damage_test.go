package boltstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// filled makes a ledger with merchants, terminals, minted codes and a few
// hundred records, closes it and returns its bytes.
func filled(t *testing.T) []byte {
	dir := t.TempDir()
	s, err := boltstore.Open(dir, boltstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := time.Date(2022, 10, 1, 12, 0, 0, 0, terminal.Zone)
	if err := s.AddMerchant(ctx, terminal.Merchant{ID: "M1", Name: "百货", Category: terminal.Retail}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTerminal(ctx, hub.TerminalRecord{ID: "T1", MerchantID: "M1", Public: make([]byte, 32), Added: at}); err != nil {
		t.Fatal(err)
	}
	var minted []hub.Minted
	for i := range 500 {
		minted = append(minted, hub.Minted{ID: terminal.VoucherID(i + 1), Code: "CODE-OF-A-VOUCHER-WITH-SOME-LENGTH"})
	}
	if err := s.AddMinted(ctx, minted); err != nil {
		t.Fatal(err)
	}
	err = s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error {
		var prev [32]byte
		for seq := uint64(1); seq <= 400; seq++ {
			body := []byte(fmt.Sprintf(`{"seq":%d,"terminal_id":"T1","merchant_id":"M1","note":"%0280d"}`, seq, seq))
			r := &hub.StoredRecord{TerminalID: "T1", Seq: seq, MerchantID: "M1", At: at, Kind: terminal.KindRedemption,
				Voucher: terminal.VoucherID(seq), Sig: make([]byte, 64), Body: body, Result: terminal.Accepted,
				Hash: terminal.ChainHash(prev, seq, body)}
			prev = r.Hash
			if err := tx.PutRecord(r); err != nil {
				return err
			}
			if err := tx.SetRedeemed(r.Voucher, r.ID()); err != nil {
				return err
			}
		}
		return tx.SetHead("T1", hub.Head{Seq: 400, Hash: prev})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(boltstore.Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpen_Damaged damages copies of a real ledger 40 ways (bytes changed
// in a page, a page zeroed, the file cut short) and opens, checks and reads
// each: an error is fine, a panic is not; the worst damage (meta pages
// zeroed, pages zeroed) must be reported as ErrDamaged, by Open or Check.
func TestOpen_Damaged(t *testing.T) {
	good := filled(t)
	const page = 4096
	// Damage only pages in use: bbolt grows the file ahead of them.
	pages := hwm(good, page)
	rng := rand.New(rand.NewPCG(1, 2))
	damaged := 0
	for i := range 40 {
		b := append([]byte(nil), good...)
		what := ""
		switch i % 4 {
		case 0: // a few bytes changed somewhere after the meta pages
			what = "bytes changed"
			for range 8 {
				b[2*page+rng.IntN(len(b)-2*page)] ^= byte(1 + rng.IntN(255))
			}
		case 1: // a whole page zeroed
			what = "page zeroed"
			p := 2 + rng.IntN(pages-2)
			clear(b[p*page : (p+1)*page])
		case 2: // a page header (id, flags, count, overflow) scrambled
			what = "page header scrambled"
			p := 2 + rng.IntN(pages-2)
			for j := range 16 {
				b[p*page+j] = byte(rng.IntN(256))
			}
		case 3: // cut short
			what = "truncated"
			b = b[:(2+rng.IntN(pages-2))*page]
		}
		if i == 0 { // both meta pages gone
			what = "meta pages zeroed"
			clear(b[:2*page])
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, boltstore.File), b, 0o600); err != nil {
			t.Fatal(err)
		}
		err := openCheckRead(dir)
		if err != nil {
			damaged++
			if !errors.Is(err, boltstore.ErrDamaged) && !errors.Is(err, hub.ErrNotInitialised) {
				t.Logf("copy %d (%s): %v", i, what, err)
			}
		}
		if err == nil {
			t.Logf("copy %d (%s): not found", i, what)
		}
		if i == 0 && !errors.Is(err, boltstore.ErrDamaged) {
			t.Errorf("copy %d (%s): got %v, want ErrDamaged", i, what, err)
		}
	}
	t.Logf("%d of 40 damaged copies reported, none panicked", damaged)
	if damaged < 30 {
		t.Errorf("only %d of 40 damaged copies reported", damaged)
	}
}

// hwm reads the number of pages in use from the newer meta page.
func hwm(b []byte, page int) int {
	le := binary.LittleEndian
	m0, m1 := b[16:], b[page+16:]
	if le.Uint64(m1[48:]) > le.Uint64(m0[48:]) { // txid
		m0 = m1
	}
	return int(le.Uint64(m0[40:])) // pgid
}

// openCheckRead opens a ledger, checks it and reads through it; the first
// error (or problem) is returned.
func openCheckRead(dir string) error {
	s, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	if p := s.Check(ctx); len(p) > 0 {
		return p[0]
	}
	day := time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)
	return s.DayRecords(ctx, day, "", func(*hub.StoredRecord) error { return nil })
}

// TestStore_VoucherLogDamaged damages the voucher index's log three ways
// (a value cut short, a key of another length, a voucher both in the log
// and in the index): Check, a commit and the export report ErrDamaged, and
// nothing panics.
func TestStore_VoucherLogDamaged(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(log, index *bolt.Bucket) error
	}{
		{"value cut", func(log, _ *bolt.Bucket) error {
			k, v := log.Cursor().First()
			return log.Put(append([]byte(nil), k...), append([]byte(nil), v[:len(v)-3]...))
		}},
		{"key length", func(log, _ *bolt.Bucket) error {
			_, v := log.Cursor().First()
			return log.Put([]byte("short"), append([]byte(nil), v...))
		}},
		{"in both", func(log, index *bolt.Bucket) error {
			_, v := log.Cursor().First()
			return index.Put(append([]byte(nil), v[:8]...), []byte("T1-0000000001"))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, boltstore.File), filled(t), 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(boltstore.Path(dir), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				return c.damage(tx.Bucket([]byte("voucher_log")), tx.Bucket([]byte("vouchers")))
			})
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			s := openIn(t, dir)
			defer s.Close()
			ctx := context.Background()
			if p := s.Check(ctx); len(p) == 0 || !errors.Is(p[0], boltstore.ErrDamaged) {
				t.Errorf("Check: %v, want ErrDamaged", p)
			}
			if err := s.EachRedemption(ctx, func(terminal.VoucherID, string) error { return nil }); !errors.Is(err, boltstore.ErrDamaged) {
				t.Errorf("EachRedemption: %v, want ErrDamaged", err)
			}
			if c.name == "in both" {
				return // a commit does not read the index whole
			}
			err = s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error { _, _, err := tx.Redeemed(1); return err })
			if !errors.Is(err, boltstore.ErrDamaged) {
				t.Errorf("Commit: %v, want ErrDamaged", err)
			}
		})
	}
}
