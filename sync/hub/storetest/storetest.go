// Package storetest is the contract suite of hub.Store: every engine
// (sync/boltstore, sync/pgstore) runs Run from its tests, so they keep and
// find the same things the same way (litestream's RunWithReplicaClient).
package storetest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// Open returns an empty store; the suite closes it.
type Open func(tb testing.TB) hub.Store

// day is 2022-10-01 UTC+8; noon is when the suite's sales happen.
var (
	day  = time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)
	noon = day.Add(12 * time.Hour)
)

// Run runs every contract test against stores made by open.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s hub.Store)
	}{
		{"Merchants", testMerchants},
		{"Terminals", testTerminals},
		{"Keys", testKeys},
		{"Minted", testMinted},
		{"Revocations", testRevocations},
		{"Params", testParams},
		{"Records", testRecords},
		{"PutRecordKeepsNothing", testPutRecordKeepsNothing},
		{"Redeemed", testRedeemed},
		{"Holds", testHolds},
		{"Conflicts", testConflicts},
		{"Memos", testMemos},
		{"DeleteMemo", testDeleteMemo},
		{"ScanMemos", testScanMemos},
		{"Actions", testActions},
		{"DayRecords", testDayRecords},
		{"Rollback", testRollback},
		{"Concurrent", testConcurrent},
		{"ConcurrentMemo", testConcurrentMemo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func merchant(id string) terminal.Merchant {
	return terminal.Merchant{ID: id, Name: "商户 " + id, Category: terminal.Retail, Region: 140521}
}

func testMerchants(t *testing.T, s hub.Store) {
	if _, ok, err := s.Merchant(ctx, "M1"); err != nil || ok {
		t.Fatalf("absent merchant: ok %v err %v", ok, err)
	}
	m := merchant("M1")
	m.Extra = []terminal.Category{terminal.Fuel}
	must(t, s.AddMerchant(ctx, m))
	must(t, s.AddMerchant(ctx, merchant("M0")))
	if err := s.AddMerchant(ctx, merchant("M1")); !errors.Is(err, hub.ErrExists) {
		t.Fatalf("second add: got %v, want ErrExists", err)
	}
	must(t, s.SetBlocked(ctx, "M1", true))
	got, ok, err := s.Merchant(ctx, "M1")
	if err != nil || !ok || !got.Blocked || got.Name != m.Name || got.Region != 140521 || !slices.Equal(got.Extra, m.Extra) {
		t.Fatalf("blocked merchant: %+v %v %v", got, ok, err)
	}
	must(t, s.SetBlocked(ctx, "M1", false))
	if got, _, _ := s.Merchant(ctx, "M1"); got.Blocked {
		t.Fatal("still blocked after unblock")
	}
	if err := s.SetBlocked(ctx, "nope", true); !errors.Is(err, hub.ErrUnknown) {
		t.Fatalf("block unknown: got %v, want ErrUnknown", err)
	}
	all, err := s.Merchants(ctx)
	must(t, err)
	if len(all) != 2 || all[0].ID != "M0" || all[1].ID != "M1" {
		t.Fatalf("merchants: %+v", all)
	}
	err = s.Commit(ctx, &hub.Keys{Merchants: []string{"M1", "M9"}}, func(tx hub.Tx) error {
		if m, ok, err := tx.Merchant("M1"); err != nil || !ok || m.ID != "M1" {
			return fmt.Errorf("tx merchant: %+v %v %v", m, ok, err)
		}
		if _, ok, err := tx.Merchant("M9"); err != nil || ok {
			return fmt.Errorf("tx absent merchant: %v %v", ok, err)
		}
		return nil
	})
	must(t, err)
}

func testTerminals(t *testing.T, s hub.Store) {
	pub, _, _ := ed25519.GenerateKey(nil)
	tr := hub.TerminalRecord{ID: "T1", MerchantID: "M1", Public: pub, Added: noon}
	if err := s.AddTerminal(ctx, tr); !errors.Is(err, hub.ErrUnknown) {
		t.Fatalf("terminal of unknown merchant: got %v, want ErrUnknown", err)
	}
	must(t, s.AddMerchant(ctx, merchant("M1")))
	must(t, s.AddTerminal(ctx, tr))
	if err := s.AddTerminal(ctx, tr); !errors.Is(err, hub.ErrExists) {
		t.Fatalf("second add: got %v, want ErrExists", err)
	}
	must(t, s.RevokeTerminal(ctx, "T1"))
	if err := s.RevokeTerminal(ctx, "T9"); !errors.Is(err, hub.ErrUnknown) {
		t.Fatalf("revoke unknown: got %v, want ErrUnknown", err)
	}
	got, ok, err := s.Terminal(ctx, "T1")
	if err != nil || !ok || !got.Revoked || !got.Public.Equal(pub) || got.MerchantID != "M1" || !got.Added.Equal(noon) {
		t.Fatalf("terminal: %+v %v %v", got, ok, err)
	}
	if _, ok, err := s.Terminal(ctx, "T9"); ok || err != nil {
		t.Fatalf("absent terminal: %v %v", ok, err)
	}
	all, err := s.Terminals(ctx)
	if err != nil || len(all) != 1 || all[0].ID != "T1" {
		t.Fatalf("terminals: %+v %v", all, err)
	}
}

func testKeys(t *testing.T, s hub.Store) {
	if _, err := s.IssuingKeys(ctx); !errors.Is(err, hub.ErrNotInitialised) {
		t.Fatalf("keys of an empty store: got %v, want ErrNotInitialised", err)
	}
	_, id, _ := ed25519.GenerateKey(nil)
	must(t, s.InitKeys(ctx, id))
	_, other, _ := ed25519.GenerateKey(nil)
	if err := s.InitKeys(ctx, other); !errors.Is(err, hub.ErrExists) {
		t.Fatalf("second init: got %v, want ErrExists", err)
	}
	ks, err := s.IssuingKeys(ctx)
	must(t, err)
	if !ks.Identity.Equal(id) || !ks.Current.Equal(id) || len(ks.All) != 1 {
		t.Fatalf("after init: %d keys", len(ks.All))
	}
	must(t, s.AddKey(ctx, other, true))
	_, third, _ := ed25519.GenerateKey(nil)
	must(t, s.AddKey(ctx, third, false))
	ks, err = s.IssuingKeys(ctx)
	must(t, err)
	if !ks.Identity.Equal(id) || !ks.Current.Equal(other) || len(ks.All) != 3 {
		t.Fatalf("after rotation: identity kept %v, current is the new one %v, %d keys", ks.Identity.Equal(id), ks.Current.Equal(other), len(ks.All))
	}
	for _, k := range []ed25519.PrivateKey{id, other, third} {
		if !slices.ContainsFunc(ks.All, func(x ed25519.PrivateKey) bool { return x.Equal(k) }) {
			t.Errorf("a key is missing from All")
		}
	}
}

func testMinted(t *testing.T, s hub.Store) {
	must(t, s.AddMinted(ctx, []hub.Minted{{ID: 7, Code: "CODE7"}, {ID: 3, Code: "CODE3"}}))
	if err := s.AddMinted(ctx, []hub.Minted{{ID: 9, Code: "CODE9"}, {ID: 3, Code: "OTHER"}}); !errors.Is(err, hub.ErrExists) {
		t.Fatalf("minting an id twice: got %v, want ErrExists", err)
	}
	err := s.Commit(ctx, &hub.Keys{Vouchers: []terminal.VoucherID{3, 7, 9}}, func(tx hub.Tx) error {
		for _, want := range []hub.Minted{{ID: 3, Code: "CODE3"}, {ID: 7, Code: "CODE7"}} {
			if c, ok, err := tx.Minted(want.ID); err != nil || !ok || c != want.Code {
				return fmt.Errorf("minted %d: %q %v %v", want.ID, c, ok, err)
			}
		}
		if _, ok, err := tx.Minted(9); ok || err != nil {
			return fmt.Errorf("voucher 9 stored although its batch was refused: %v %v", ok, err)
		}
		return nil
	})
	must(t, err)
}

func testRevocations(t *testing.T, s hub.Store) {
	for _, v := range []terminal.VoucherID{30, 10, 20, 10} {
		must(t, s.Revoke(ctx, v, noon))
	}
	got, err := s.Revocations(ctx)
	must(t, err)
	if !slices.Equal(got, []terminal.VoucherID{10, 20, 30}) {
		t.Fatalf("revocations %v", got)
	}
	err = s.Commit(ctx, &hub.Keys{Vouchers: []terminal.VoucherID{10, 11}}, func(tx hub.Tx) error {
		if r, err := tx.Revoked(10); err != nil || !r {
			return fmt.Errorf("10 revoked: %v %v", r, err)
		}
		if r, err := tx.Revoked(11); err != nil || r {
			return fmt.Errorf("11 revoked: %v %v", r, err)
		}
		return nil
	})
	must(t, err)
}

func testParams(t *testing.T, s hub.Store) {
	p, err := s.Params(ctx)
	if err != nil || p != (terminal.Params{}) {
		t.Fatalf("params of an empty store: %+v %v", p, err)
	}
	p.SplitBillWindow = 45 * time.Minute
	must(t, s.SetParams(ctx, p))
	if got, err := s.Params(ctx); err != nil || got != p {
		t.Fatalf("params %+v %v, want %+v", got, err, p)
	}
}

// rec returns a record of terminal term at seq, chained as a terminal
// chains them: its body is made from seq, its hash links it to the record
// at seq-1 (terminal.ChainHash), so an engine's own check can verify it.
func rec(term, merchant string, seq uint64, at time.Time, v terminal.VoucherID, res terminal.Result) *hub.StoredRecord {
	r := &hub.StoredRecord{TerminalID: term, Seq: seq, MerchantID: merchant, At: at, Kind: terminal.KindRedemption,
		Voucher: v, Sig: []byte{1, 2, 3}, Body: body(seq), Result: res, Hash: hashAt(seq)}
	if res == terminal.Conflict {
		r.Detail = "voucher already redeemed by X-0000000001"
	}
	return r
}

func body(seq uint64) []byte { return []byte(fmt.Sprintf(`{"seq":%d}`, seq)) }

// hashAt is the chain hash of the suite's records up to seq.
func hashAt(seq uint64) [32]byte {
	var h [32]byte
	for s := uint64(1); s <= seq; s++ {
		h = terminal.ChainHash(h, s, body(s))
	}
	return h
}

// headAt is the head of a chain of the suite's records up to seq.
func headAt(seq uint64) hub.Head { return hub.Head{Seq: seq, Hash: hashAt(seq)} }

// setup enrols merchants M1 and M2 and terminals T0, T1, T3 (of M1) and
// T2 (of M2): records come only from enrolled terminals.
func setup(t *testing.T, s hub.Store) {
	must(t, s.AddMerchant(ctx, merchant("M1")))
	must(t, s.AddMerchant(ctx, merchant("M2")))
	for _, id := range []string{"T0", "T1", "T2", "T3"} {
		pub, _, _ := ed25519.GenerateKey(nil)
		m := "M1"
		if id == "T2" {
			m = "M2"
		}
		must(t, s.AddTerminal(ctx, hub.TerminalRecord{ID: id, MerchantID: m, Public: pub, Added: noon}))
	}
}

func testRecords(t *testing.T, s hub.Store) {
	setup(t, s)
	if h, err := s.Head(ctx, "T1"); err != nil || h != (hub.Head{}) {
		t.Fatalf("head of a new terminal: %+v %v", h, err)
	}
	keys := &hub.Keys{Terminals: []string{"T1"}}
	err := s.Commit(ctx, keys, func(tx hub.Tx) error {
		for seq := uint64(1); seq <= 3; seq++ {
			if err := tx.PutRecord(rec("T1", "M1", seq, noon, terminal.VoucherID(seq), terminal.Accepted)); err != nil {
				return err
			}
		}
		if err := tx.SetHead("T1", headAt(3)); err != nil {
			return err
		}
		// Reads see the transaction's own writes.
		if h, err := tx.Head("T1"); err != nil || h.Seq != 3 {
			return fmt.Errorf("head in tx: %+v %v", h, err)
		}
		if r, ok, err := tx.Record("T1", 2); err != nil || !ok || r.Seq != 2 {
			return fmt.Errorf("record in tx: %+v %v %v", r, ok, err)
		}
		return nil
	})
	must(t, err)
	err = s.Commit(ctx, &hub.Keys{Terminals: []string{"T1"}, Records: []hub.RecordRef{{TerminalID: "T1", Seq: 2}}}, func(tx hub.Tx) error {
		return tx.PutRecord(rec("T1", "M1", 2, noon, 2, terminal.Accepted))
	})
	if !errors.Is(err, hub.ErrExists) {
		t.Fatalf("a second record for (T1, 2): got %v, want ErrExists", err)
	}
	h, err := s.Head(ctx, "T1")
	must(t, err)
	if h != headAt(3) {
		t.Fatalf("head %+v", h)
	}
	want := rec("T1", "M1", 2, noon, 2, terminal.Accepted)
	got, ok, err := s.Record(ctx, "T1", 2)
	if err != nil || !ok {
		t.Fatalf("record: %v %v", ok, err)
	}
	if got.TerminalID != "T1" || got.Seq != 2 || got.MerchantID != "M1" || !got.At.Equal(noon) || got.Kind != want.Kind ||
		got.Voucher != 2 || got.Hash != want.Hash || string(got.Sig) != string(want.Sig) || string(got.Body) != string(want.Body) ||
		got.Result != terminal.Accepted || got.Detail != "" || got.ID() != "T1-0000000002" {
		t.Fatalf("record read back: %+v", got)
	}
	if _, ok, err := s.Record(ctx, "T1", 4); ok || err != nil {
		t.Fatalf("absent record: %v %v", ok, err)
	}
	c := rec("T1", "M1", 4, noon, 1, terminal.Conflict)
	must(t, s.Commit(ctx, keys, func(tx hub.Tx) error {
		if err := tx.PutRecord(c); err != nil {
			return err
		}
		return tx.SetHead("T1", headAt(4))
	}))
	if got, _, _ := s.Record(ctx, "T1", 4); got.Result != terminal.Conflict || got.Detail != c.Detail {
		t.Fatalf("conflict read back: %+v", got)
	}
}

// testPutRecordKeepsNothing: a store keeps neither the record PutRecord
// is given nor the bytes it points to (the hub reads its next batch into
// the message a body and signature alias): bytes scribbled over after the
// call change nothing stored, in the transaction or after it.
func testPutRecordKeepsNothing(t *testing.T, s hub.Store) {
	setup(t, s)
	scribble := func(b []byte) {
		for i := range b {
			b[i] = 'x'
		}
	}
	check := func(where string, get func(seq uint64) (hub.StoredRecord, bool, error)) error {
		for seq := uint64(1); seq <= 3; seq++ {
			want := rec("T1", "M1", seq, noon, terminal.VoucherID(seq), terminal.Accepted)
			got, ok, err := get(seq)
			if err != nil || !ok || string(got.Body) != string(want.Body) || string(got.Sig) != string(want.Sig) {
				return fmt.Errorf("%s: record %d: body %q sig %v (%v %v), want %q %v", where, seq, got.Body, got.Sig, ok, err, want.Body, want.Sig)
			}
		}
		return nil
	}
	must(t, s.Commit(ctx, &hub.Keys{Terminals: []string{"T1"}}, func(tx hub.Tx) error {
		for seq := uint64(1); seq <= 3; seq++ {
			r := rec("T1", "M1", seq, noon, terminal.VoucherID(seq), terminal.Accepted)
			if err := tx.PutRecord(r); err != nil {
				return err
			}
			scribble(r.Body)
			scribble(r.Sig)
			*r = hub.StoredRecord{}
		}
		if err := tx.SetHead("T1", headAt(3)); err != nil {
			return err
		}
		return check("in its transaction", func(seq uint64) (hub.StoredRecord, bool, error) { return tx.Record("T1", seq) })
	}))
	if err := check("stored", func(seq uint64) (hub.StoredRecord, bool, error) { return s.Record(ctx, "T1", seq) }); err != nil {
		t.Fatal(err)
	}
}

func testRedeemed(t *testing.T, s hub.Store) {
	setup(t, s)
	keys := &hub.Keys{Terminals: []string{"T1"}, Vouchers: []terminal.VoucherID{5}}
	err := s.Commit(ctx, keys, func(tx hub.Tx) error {
		if err := tx.PutRecord(rec("T1", "M1", 1, noon, 5, terminal.Accepted)); err != nil {
			return err
		}
		if _, ok, err := tx.Redeemed(5); ok || err != nil {
			return fmt.Errorf("redeemed before: %v %v", ok, err)
		}
		if err := tx.SetRedeemed(5, "T1-0000000001"); err != nil {
			return err
		}
		if id, ok, err := tx.Redeemed(5); !ok || err != nil || id != "T1-0000000001" {
			return fmt.Errorf("redeemed in tx: %q %v %v", id, ok, err)
		}
		return tx.SetHead("T1", headAt(1))
	})
	must(t, err)
	err = s.Commit(ctx, keys, func(tx hub.Tx) error {
		if err := tx.PutRecord(rec("T1", "M1", 2, noon, 5, terminal.Accepted)); err != nil {
			return err
		}
		return tx.SetRedeemed(5, "T1-0000000002")
	})
	if !errors.Is(err, hub.ErrExists) {
		t.Fatalf("a second live redemption: got %v, want ErrExists", err)
	}
	err = s.Commit(ctx, keys, func(tx hub.Tx) error { return tx.ClearRedeemed(5) })
	must(t, err)
	err = s.Commit(ctx, keys, func(tx hub.Tx) error {
		if _, ok, err := tx.Redeemed(5); ok || err != nil {
			return fmt.Errorf("redeemed after a refund: %v %v", ok, err)
		}
		if err := tx.PutRecord(rec("T1", "M1", 2, noon, 5, terminal.Accepted)); err != nil {
			return err
		}
		if err := tx.SetRedeemed(5, "T1-0000000002"); err != nil {
			return err
		}
		return tx.SetHead("T1", headAt(2))
	})
	must(t, err)
	must(t, s.Commit(ctx, keys, func(tx hub.Tx) error {
		if id, ok, err := tx.Redeemed(5); !ok || err != nil || id != "T1-0000000002" {
			return fmt.Errorf("redeemed again: %q %v %v", id, ok, err)
		}
		return nil
	}))
}

func testHolds(t *testing.T, s hub.Store) {
	vs := []terminal.VoucherID{1, 2, 3}
	keys := &hub.Keys{Vouchers: vs}
	must(t, s.Commit(ctx, keys, func(tx hub.Tx) error {
		for i, v := range vs {
			if err := tx.PutHold(v, hub.Hold{TerminalID: "T1", Until: noon.Add(time.Duration(i) * time.Minute)}); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, s.Commit(ctx, keys, func(tx hub.Tx) error {
		h, ok, err := tx.Hold(2)
		if err != nil || !ok || h.TerminalID != "T1" || !h.Until.Equal(noon.Add(time.Minute)) {
			return fmt.Errorf("hold 2: %+v %v %v", h, ok, err)
		}
		if err := tx.DeleteHold(3); err != nil {
			return err
		}
		n, err := tx.DeleteHoldsBefore(noon.Add(time.Minute))
		if err != nil || n != 2 {
			return fmt.Errorf("expired holds dropped: %d %v, want 2", n, err)
		}
		return nil
	}))
	must(t, s.Commit(ctx, keys, func(tx hub.Tx) error {
		for _, v := range vs {
			if _, ok, err := tx.Hold(v); ok || err != nil {
				return fmt.Errorf("hold %d left: %v %v", v, ok, err)
			}
		}
		return nil
	}))
}

func testConflicts(t *testing.T, s hub.Store) {
	var want []hub.Conflict
	for i := range 3 {
		c := hub.Conflict{RecordID: terminal.RecordID("T1", uint64(i+1)), TerminalID: "T1", MerchantID: "M1", Seq: uint64(i + 1),
			Voucher: terminal.VoucherID(100 - i), Category: terminal.Retail, DiscountFen: terminal.Yuan(10),
			At: noon.Add(time.Duration(i) * time.Second), Against: "T2-0000000001", Reason: "voucher already redeemed by T2-0000000001"}
		want = append(want, c)
		must(t, s.Commit(ctx, &hub.Keys{}, func(tx hub.Tx) error { return tx.AddConflict(&c) }))
	}
	var got []hub.Conflict
	must(t, s.Conflicts(ctx, func(c *hub.Conflict) error { got = append(got, *c); return nil }))
	if len(got) != len(want) {
		t.Fatalf("%d conflicts, want %d", len(got), len(want))
	}
	for i := range got {
		if g, w := got[i], want[i]; g.RecordID != w.RecordID || !g.At.Equal(w.At) || g.Voucher != w.Voucher ||
			g.DiscountFen != w.DiscountFen || g.Reason != w.Reason || g.Against != w.Against || g.Category != w.Category {
			t.Errorf("conflict %d: %+v, want %+v", i, g, w)
		}
	}
}

func testDayRecords(t *testing.T, s hub.Store) {
	setup(t, s)
	// Just inside the day in UTC+8 (its first and last second) and just outside.
	times := []time.Time{day, day.Add(24*time.Hour - time.Second), day.Add(-time.Second), day.Add(24 * time.Hour)}
	must(t, s.Commit(ctx, &hub.Keys{Terminals: []string{"T1", "T2"}}, func(tx hub.Tx) error {
		for i, at := range times {
			if err := tx.PutRecord(rec("T1", "M1", uint64(i+1), at.UTC(), terminal.VoucherID(i+1), terminal.Accepted)); err != nil {
				return err
			}
			if err := tx.PutRecord(rec("T2", "M2", uint64(i+1), at, terminal.VoucherID(i+11), terminal.Conflict)); err != nil {
				return err
			}
		}
		if err := tx.SetHead("T1", headAt(uint64(len(times)))); err != nil {
			return err
		}
		return tx.SetHead("T2", headAt(uint64(len(times))))
	}))
	var got []string
	must(t, s.DayRecords(ctx, day, "", func(r *hub.StoredRecord) error { got = append(got, r.ID()); return nil }))
	if want := []string{"T1-0000000001", "T1-0000000002", "T2-0000000001", "T2-0000000002"}; !slices.Equal(got, want) {
		t.Fatalf("day records %v, want %v", got, want)
	}
	got = nil
	must(t, s.DayRecords(ctx, day, "M2", func(r *hub.StoredRecord) error {
		if r.Result != terminal.Conflict || r.MerchantID != "M2" {
			return fmt.Errorf("record %s: %+v", r.ID(), r)
		}
		got = append(got, r.ID())
		return nil
	}))
	if want := []string{"T2-0000000001", "T2-0000000002"}; !slices.Equal(got, want) {
		t.Fatalf("M2's day records %v, want %v", got, want)
	}
}

func testRollback(t *testing.T, s hub.Store) {
	setup(t, s)
	boom := errors.New("boom")
	keys := &hub.Keys{Terminals: []string{"T1"}, Vouchers: []terminal.VoucherID{1}}
	err := s.Commit(ctx, keys, func(tx hub.Tx) error {
		if err := tx.PutRecord(rec("T1", "M1", 1, noon, 1, terminal.Accepted)); err != nil {
			return err
		}
		if err := tx.SetRedeemed(1, "T1-0000000001"); err != nil {
			return err
		}
		if err := tx.SetHead("T1", hub.Head{Seq: 1}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("commit: got %v, want fn's error", err)
	}
	if h, _ := s.Head(ctx, "T1"); h.Seq != 0 {
		t.Errorf("head moved by a failed commit: %+v", h)
	}
	if _, ok, _ := s.Record(ctx, "T1", 1); ok {
		t.Errorf("record stored by a failed commit")
	}
	must(t, s.Commit(ctx, keys, func(tx hub.Tx) error {
		if _, ok, _ := tx.Redeemed(1); ok {
			return errors.New("redemption stored by a failed commit")
		}
		return nil
	}))
}

// testConcurrent runs commits from several goroutines on distinct chains,
// all racing for one voucher: exactly one live redemption results, and every
// chain is whole. A store shared by instances (PostgreSQL) retries the
// losers; fn runs again and then finds the voucher taken.
func testConcurrent(t *testing.T, s hub.Store) {
	setup(t, s)
	const n = 4
	errs := make(chan error, n)
	won := make(chan string, n)
	for i := range n {
		term := fmt.Sprintf("T%d", i)
		go func() {
			errs <- s.Commit(ctx, &hub.Keys{Terminals: []string{term}, Vouchers: []terminal.VoucherID{42}}, func(tx hub.Tx) error {
				res := terminal.Accepted
				if _, ok, err := tx.Redeemed(42); err != nil {
					return err
				} else if ok {
					res = terminal.Conflict
				}
				r := rec(term, "M1", 1, noon, 42, res)
				if err := tx.PutRecord(r); err != nil {
					return err
				}
				if res == terminal.Accepted {
					if err := tx.SetRedeemed(42, r.ID()); err != nil {
						return err
					}
					won <- r.ID() // may run more than once: counted below from the store
				}
				return tx.SetHead(term, hub.Head{Seq: 1, Hash: r.Hash})
			})
		}()
	}
	for range n {
		must(t, <-errs)
	}
	accepted := 0
	for i := range n {
		term := fmt.Sprintf("T%d", i)
		r, ok, err := s.Record(ctx, term, 1)
		if err != nil || !ok {
			t.Fatalf("%s's record: %v %v", term, ok, err)
		}
		if h, _ := s.Head(ctx, term); h.Seq != 1 {
			t.Errorf("%s's head %d", term, h.Seq)
		}
		if r.Result == terminal.Accepted {
			accepted++
		}
	}
	if accepted != 1 {
		t.Fatalf("%d accepted redemptions of one voucher, want 1", accepted)
	}
}

// testConcurrentMemo runs commits from several goroutines that each add
// their name to one memo no one has written yet, all reading it before any
// writes it where the store lets them (a short wait where it does not: bbolt
// runs one at a time): every name is in it at the end (a store shared by
// instances retries the ones that lost the race to insert it; none is lost).
func testConcurrentMemo(t *testing.T, s hub.Store) {
	const n = 8
	errs := make(chan error, n)
	var arrived atomic.Int32
	all := make(chan struct{})
	for i := range n {
		go func() {
			first := true
			errs <- s.Commit(ctx, &hub.Keys{Memos: []string{"holder/M1/new"}}, func(tx hub.Tx) error {
				v, _, err := tx.Memo("holder/M1/new")
				if err != nil {
					return err
				}
				if first {
					first = false
					if arrived.Add(1) == n {
						close(all)
					}
					select {
					case <-all:
					case <-time.After(100 * time.Millisecond):
					}
				}
				return tx.PutMemo("holder/M1/new", append(v, byte('a'+i)))
			})
		}()
	}
	for range n {
		must(t, <-errs)
	}
	must(t, s.Commit(ctx, &hub.Keys{Memos: []string{"holder/M1/new"}}, func(tx hub.Tx) error {
		v, _, err := tx.Memo("holder/M1/new")
		got := []byte(string(v))
		slices.Sort(got)
		if want := "abcdefgh"; string(got) != want {
			t.Errorf("memo written by %d commits at once: %q, want %q", n, got, want)
		}
		return err
	}))
}

// testMemos: a memo reads back what was put, in the same transaction and
// after the commit; a rolled-back put leaves the old value.
func testMemos(t *testing.T, s hub.Store) {
	keys := &hub.Keys{Memos: []string{"holder/M1/A1", "absent"}}
	err := s.Commit(ctx, keys, func(tx hub.Tx) error {
		if _, ok, err := tx.Memo("absent"); err != nil || ok {
			t.Errorf("absent memo: %v %v", ok, err)
		}
		if err := tx.PutMemo("holder/M1/A1", []byte("one")); err != nil {
			return err
		}
		v, ok, err := tx.Memo("holder/M1/A1")
		if err != nil || !ok || string(v) != "one" {
			t.Errorf("own write: %q %v %v", v, ok, err)
		}
		return nil
	})
	must(t, err)
	errBoom := errors.New("boom")
	err = s.Commit(ctx, keys, func(tx hub.Tx) error {
		if err := tx.PutMemo("holder/M1/A1", []byte("two")); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("rollback: %v", err)
	}
	must(t, s.Commit(ctx, keys, func(tx hub.Tx) error {
		v, ok, err := tx.Memo("holder/M1/A1")
		if err != nil || !ok || string(v) != "one" {
			t.Errorf("after rollback: %q %v %v", v, ok, err)
		}
		return err
	}))
}

// testDeleteMemo: a deleted memo is absent in the transaction and after
// it; deleting an absent memo is no error; a memo deleted and put again in
// one transaction, or put and deleted, ends as the last did; a rolled-back
// delete leaves the memo.
func testDeleteMemo(t *testing.T, s hub.Store) {
	keys := &hub.Keys{Memos: []string{"holder/M1/A1", "holder/M1/A2", "holder/M1/A3", "absent"}}
	must(t, s.Commit(ctx, keys, func(tx hub.Tx) error {
		for _, k := range keys.Memos[:3] {
			if err := tx.PutMemo(k, []byte("v "+k)); err != nil {
				return err
			}
		}
		return nil
	}))
	read := func(tx hub.Tx, key string) string {
		v, ok, err := tx.Memo(key)
		if err != nil {
			t.Fatalf("memo %s: %v", key, err)
		}
		if !ok {
			return "absent"
		}
		return string(v)
	}
	errBoom := errors.New("boom")
	err := s.Commit(ctx, keys, func(tx hub.Tx) error {
		if err := tx.DeleteMemo("holder/M1/A1"); err != nil {
			return err
		}
		if got := read(tx, "holder/M1/A1"); got != "absent" {
			t.Errorf("deleted in the transaction: %q", got)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("rollback: %v", err)
	}
	must(t, s.Commit(ctx, keys, func(tx hub.Tx) error {
		if got := read(tx, "holder/M1/A1"); got != "v holder/M1/A1" {
			t.Errorf("after a rolled-back delete: %q", got)
		}
		for _, step := range []error{tx.DeleteMemo("holder/M1/A1"), tx.DeleteMemo("absent"),
			tx.DeleteMemo("holder/M1/A2"), tx.PutMemo("holder/M1/A2", []byte("again")),
			tx.PutMemo("absent", []byte("new")), tx.DeleteMemo("absent")} {
			if step != nil {
				return step
			}
		}
		return nil
	}))
	must(t, s.Commit(ctx, keys, func(tx hub.Tx) error {
		want := map[string]string{"holder/M1/A1": "absent", "holder/M1/A2": "again", "holder/M1/A3": "v holder/M1/A3", "absent": "absent"}
		for k, w := range want {
			if got := read(tx, k); got != w {
				t.Errorf("memo %s after the commit: %q, want %q", k, got, w)
			}
		}
		return nil
	}))
}

// testScanMemos: a walk a chunk at a time, each call after the last key of
// the one before, meets every memo under the prefix once and no other.
func testScanMemos(t *testing.T, s hub.Store) {
	want := map[string]bool{}
	var all []string
	for i := range 7 {
		k := fmt.Sprintf("holder/M%d/%016X", i%2+1, 0xA0+i)
		want[k] = true
		all = append(all, k)
	}
	all = append(all, "holder", "holdes/x", "lane/T1", "blocks/M1", "sync/T1")
	must(t, s.Commit(ctx, &hub.Keys{Memos: all}, func(tx hub.Tx) error {
		for _, k := range all {
			if err := tx.PutMemo(k, []byte("v "+k)); err != nil {
				return err
			}
		}
		return nil
	}))
	if err := s.ScanMemos(ctx, "holder/", "", 0, func(k string, _ []byte) error {
		t.Errorf("limit 0 gave %s", k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 3, 7, 100} {
		seen := map[string]bool{}
		after := ""
		for calls := 0; ; calls++ {
			if calls > len(all) {
				t.Fatalf("limit %d: the walk does not end", limit)
			}
			n := 0
			must(t, s.ScanMemos(ctx, "holder/", after, limit, func(k string, v []byte) error {
				if !want[k] || seen[k] || string(v) != "v "+k {
					t.Errorf("limit %d after %q: %q → %q (seen before: %v)", limit, after, k, v, seen[k])
				}
				seen[k], after = true, k
				n++
				return nil
			}))
			if n > limit {
				t.Fatalf("limit %d: %d memos in one call", limit, n)
			}
			if n < limit {
				break
			}
		}
		if len(seen) != len(want) {
			t.Errorf("limit %d: the walk met %d holder memos, want %d", limit, len(seen), len(want))
		}
	}
	errStop := errors.New("stop")
	if err := s.ScanMemos(ctx, "holder/", "", 10, func(string, []byte) error { return errStop }); !errors.Is(err, errStop) {
		t.Errorf("an error of fn: %v, want it returned", err)
	}
}

func testActions(t *testing.T, s hub.Store) {
	var got []hub.Action
	read := func() []hub.Action {
		got = got[:0]
		must(t, s.Actions(ctx, func(a *hub.Action) error { got = append(got, *a); return nil }))
		return got
	}
	if n := len(read()); n != 0 {
		t.Fatalf("new store has %d admin log entries", n)
	}
	want := []hub.Action{
		{At: noon, Who: "张三 (127.0.0.1:5000)", What: "block", Target: "M1", Why: "套现嫌疑 suspected cashing out"},
		{At: noon.Add(time.Hour), Who: "李四", What: "unblock", Target: "M1", Why: "核查无误"},
	}
	for _, a := range want {
		must(t, s.AddAction(ctx, a))
	}
	got = read()
	if len(got) != len(want) {
		t.Fatalf("admin log: %+v", got)
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) || got[i].Who != want[i].Who || got[i].What != want[i].What ||
			got[i].Target != want[i].Target || got[i].Why != want[i].Why {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
