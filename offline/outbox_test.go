package offline_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/terminal"
)

func TestOutbox_Pending(t *testing.T) {
	ctx := context.Background()
	l, _ := MustOpen(t)
	for i := uint64(1); i <= 5; i++ {
		mustCommit(t, l, redemption(i, i, noon.Add(time.Duration(i)*time.Minute)))
	}
	if h, err := l.HighSeq(ctx); err != nil || h != 5 {
		t.Fatalf("high seq: got %d %v", h, err)
	}
	got, err := l.Pending(ctx, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Seq != 2 || got[2].Seq != 4 {
		t.Fatalf("pending after 1, 3: got %d records from seq %d", len(got), got[0].Seq)
	}
	all, _ := l.Pending(ctx, 0, 100)
	if _, _, err := terminal.VerifyChain(l.PublicKey(), 0, [32]byte{}, all); err != nil {
		t.Fatalf("pending records do not verify as a chain: %v", err)
	}
	// Sealed bodies are the records' exact JSON.
	r, _ := l.Get(ctx, "T1-0000000003")
	if want, _ := json.Marshal(r); string(all[2].Body) != string(want) {
		t.Fatalf("body of seq 3:\n got %s\nwant %s", all[2].Body, want)
	}
	if none, _ := l.Pending(ctx, 5, 10); len(none) != 0 {
		t.Fatalf("pending after the high seq: got %d", len(none))
	}
}

// TestOutbox_ViewPending: ViewPending lends the records Pending copies,
// into the buffer it is given; fn's error and a closed ledger's are its own.
func TestOutbox_ViewPending(t *testing.T) {
	ctx := context.Background()
	l, _ := MustOpen(t)
	for i := uint64(1); i <= 5; i++ {
		mustCommit(t, l, redemption(i, i, noon.Add(time.Duration(i)*time.Minute)))
	}
	buf := make([]terminal.Sealed, 0, 8)
	for _, c := range []struct {
		after uint64
		n     int
	}{{0, 100}, {1, 3}, {4, 3}, {5, 10}, {0, 0}} {
		want, err := l.Pending(ctx, c.after, c.n)
		if err != nil {
			t.Fatal(err)
		}
		var got []terminal.Sealed
		err = l.ViewPending(ctx, c.after, c.n, buf, func(recs []terminal.Sealed) error {
			if len(recs) > 0 && &recs[0] != &buf[:1][0] {
				t.Errorf("after %d: records not in the buffer given", c.after)
			}
			for _, r := range recs {
				r.Sig, r.Body = append([]byte(nil), r.Sig...), append([]byte(nil), r.Body...)
				got = append(got, r)
			}
			return nil
		})
		if err != nil || len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("after %d, %d: got %d records (%v), Pending %d", c.after, c.n, len(got), err, len(want))
		}
	}
	stop := errors.New("stop")
	if err := l.ViewPending(ctx, 0, 1, nil, func([]terminal.Sealed) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn's error: got %v", err)
	}
	_ = l.Close()
	if err := l.ViewPending(ctx, 0, 1, nil, func([]terminal.Sealed) error { return nil }); !errors.Is(err, offline.ErrClosed) {
		t.Fatalf("closed: got %v, want ErrClosed", err)
	}
}

func TestOutbox_Ack(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		l, path := MustOpen(t)
		for i := uint64(1); i <= 5; i++ {
			mustCommit(t, l, redemption(i, i, noon.Add(time.Duration(i)*time.Minute)))
		}
		err := l.Ack(ctx, 3, []terminal.Outcome{{Seq: 1, Result: terminal.Accepted}, {Seq: 2, Result: terminal.Conflict, Detail: "voucher 2 redeemed by T2-0000000001"}, {Seq: 3, Result: terminal.Duplicate}})
		if err != nil {
			t.Fatal(err)
		}
		wantUnsynced(t, l, 2, terminal.Yuan(40))
		// A resend's duplicate never hides a conflict.
		if err := l.Ack(ctx, 3, []terminal.Outcome{{Seq: 2, Result: terminal.Duplicate}}); err != nil {
			t.Fatal(err)
		}
		l = reopen(t, l, path)
		wantUnsynced(t, l, 2, terminal.Yuan(40))
		if l.Watermark() != 3 {
			t.Fatalf("watermark %d, want 3", l.Watermark())
		}
		cs, err := l.Conflicts(ctx)
		if err != nil || len(cs) != 1 || cs[0].Record.Seq != 2 || cs[0].Sync != terminal.Conflict {
			t.Fatalf("conflicts: got %+v %v", cs, err)
		}
		for id, want := range map[string]terminal.Result{"T1-0000000001": terminal.Accepted, "T1-0000000002": terminal.Conflict,
			"T1-0000000003": terminal.Duplicate, "T1-0000000004": terminal.Awaiting} {
			e, err := l.Entry(ctx, id)
			if err != nil || e.Sync != want {
				t.Errorf("%s: got %q %v, want %q", id, e.Sync, err, want)
			}
		}
		// Acknowledged records stay in the journal and can be sent again.
		if got, _ := l.Pending(ctx, 0, 10); len(got) != 5 {
			t.Fatalf("pending from 0 after ack: got %d, want 5", len(got))
		}
		if err := l.Ack(ctx, 5, nil); err != nil {
			t.Fatal(err)
		}
		wantUnsynced(t, l, 0, 0)
	})
	t.Run("Ranks", func(t *testing.T) {
		// Acks in the server's order (ascending), in another, and with a
		// sequence twice: each outcome stored replaces a lower-ranked one
		// only (conflict > accepted > duplicate), as a model keeps them.
		acc, dup, con := terminal.Accepted, terminal.Duplicate, terminal.Conflict
		o := func(seq uint64, r terminal.Result) terminal.Outcome {
			return terminal.Outcome{Seq: seq, Result: r, Detail: fmt.Sprintf("%s %d", r, seq)}
		}
		for name, acks := range map[string][][]terminal.Outcome{
			"ascending":  {{o(1, acc), o(2, con), o(3, dup), o(5, acc)}, {o(1, dup), o(2, acc), o(3, acc), o(4, dup), o(5, con), o(6, acc)}},
			"descending": {{o(5, acc), o(3, dup), o(2, con), o(1, acc)}, {o(6, acc), o(5, con), o(4, dup), o(3, acc), o(2, acc), o(1, dup)}},
			"repeated":   {{o(2, dup), o(2, con), o(2, acc), o(3, acc), o(3, dup)}, {o(1, dup), o(1, acc), o(4, acc), o(4, con), o(3, con)}},
		} {
			t.Run(name, func(t *testing.T) {
				l, path := MustOpen(t)
				for i := uint64(1); i <= 6; i++ {
					mustCommit(t, l, redemption(i, i, noon))
				}
				rank := map[terminal.Result]int{dup: 1, acc: 2, con: 3}
				model := map[uint64]terminal.Outcome{}
				for _, outs := range acks {
					if err := l.Ack(ctx, 0, outs); err != nil {
						t.Fatal(err)
					}
					for _, o := range outs {
						if rank[o.Result] > rank[model[o.Seq].Result] {
							model[o.Seq] = o
						}
					}
				}
				l = reopen(t, l, path)
				var conflicts []uint64
				for seq := uint64(1); seq <= 6; seq++ {
					want := model[seq]
					if want.Result == "" {
						want.Result = terminal.Awaiting
					}
					if want.Result == con {
						conflicts = append(conflicts, seq)
					}
					e, err := l.Entry(ctx, fmt.Sprintf("T1-%010d", seq))
					if err != nil || e.Sync != want.Result || e.Detail != want.Detail {
						t.Errorf("seq %d: got %q %q %v, want %q %q", seq, e.Sync, e.Detail, err, want.Result, want.Detail)
					}
				}
				cs, err := l.Conflicts(ctx)
				var got []uint64
				for _, c := range cs {
					got = append(got, c.Record.Seq)
				}
				if err != nil || !reflect.DeepEqual(got, conflicts) {
					t.Errorf("conflicts %v %v, want %v", got, err, conflicts)
				}
			})
		}
	})
	t.Run("ErrAck", func(t *testing.T) {
		l, _ := MustOpen(t)
		mustCommit(t, l, redemption(1, 1, noon))
		for name, f := range map[string]func() error{
			"watermark": func() error { return l.Ack(ctx, 2, nil) },
			"outcome":   func() error { return l.Ack(ctx, 1, []terminal.Outcome{{Seq: 7, Result: terminal.Accepted}}) },
			"seq 0":     func() error { return l.Ack(ctx, 1, []terminal.Outcome{{Seq: 0, Result: terminal.Accepted}}) },
			"result":    func() error { return l.Ack(ctx, 1, []terminal.Outcome{{Seq: 1, Result: "maybe"}}) },
		} {
			if err := f(); !errors.Is(err, offline.ErrAck) {
				t.Errorf("%s: got %v, want ErrAck", name, err)
			}
		}
		wantUnsynced(t, l, 1, terminal.Yuan(20))
	})
	t.Run("WatermarkBack", func(t *testing.T) {
		l, _ := MustOpen(t)
		for i := uint64(1); i <= 4; i++ {
			mustCommit(t, l, redemption(i, i, noon))
		}
		mustCommit(t, l, refund(mustGet(t, l, "T1-0000000001"), false))
		if err := l.Ack(ctx, 5, nil); err != nil {
			t.Fatal(err)
		}
		wantUnsynced(t, l, 0, 0)
		if err := l.Ack(ctx, 2, nil); err != nil { // a server restored from a backup
			t.Fatal(err)
		}
		wantUnsynced(t, l, 3, terminal.Yuan(40))
		// The records queued again weigh as before when acknowledged again.
		mustCommit(t, l, redemption(6, 6, noon))
		wantUnsynced(t, l, 4, terminal.Yuan(60))
		if err := l.Ack(ctx, 4, nil); err != nil {
			t.Fatal(err)
		}
		wantUnsynced(t, l, 2, terminal.Yuan(20))
		if err := l.Ack(ctx, 5, nil); err != nil {
			t.Fatal(err)
		}
		wantUnsynced(t, l, 1, terminal.Yuan(20))
	})
}

func mustGet(tb testing.TB, l *offline.Ledger, id string) *terminal.Redemption {
	tb.Helper()
	r, err := l.Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func wantUnsynced(tb testing.TB, l *offline.Ledger, n int, fen terminal.Fen) {
	tb.Helper()
	gotN, gotFen, err := l.Unsynced(context.Background())
	if err != nil || gotN != n || gotFen != fen {
		tb.Fatalf("unsynced: got %d %s %v, want %d %s", gotN, gotFen, err, n, fen)
	}
}

func TestStateStore(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t)
	_, err := l.LoadState(ctx)
	if !errors.Is(err, offline.ErrNoState) || !errors.Is(err, terminal.ErrNotFound) {
		t.Fatalf("fresh ledger: got %v, want ErrNoState", err)
	}
	want := terminal.ServerState{
		Merchant:    terminal.Merchant{ID: "M1", Name: "沁水百货", Category: terminal.Retail, Region: 140521, Blocked: true},
		IssuerKeys:  []terminal.IssuerKey{{ID: terminal.KeyIDOf(termKey.Public().(ed25519.PublicKey)), Public: termKey.Public().(ed25519.PublicKey)}},
		Revocations: []terminal.VoucherID{7, 8},
		Params:      terminal.Params{OfflineLimitFen: terminal.Yuan(300)},
		ServerTime:  noon.Add(2 * time.Second),
		LocalTime:   noon,
	}
	if err := l.SaveState(ctx, want); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, l, redemption(1, 1, noon.Add(-time.Hour)))
	l = reopen(t, l, path)
	got, err := l.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mustJSON(t, got), mustJSON(t, want)) {
		t.Fatalf("state:\n got %s\nwant %s", mustJSON(t, got), mustJSON(t, want))
	}
	st, err := l.SyncState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.LastSync.Equal(noon) || st.ServerOffset != 2*time.Second || !st.HighWater.Equal(noon) || st.UnsyncedFen != terminal.Yuan(20) {
		t.Fatalf("sync state: got %+v", st)
	}
}

// TestStateStore_Corrupt: a damaged server state does not stop the ledger
// from opening; SyncState reports it (the lane then refuses to decide
// offline) until the next SaveState replaces it.
func TestStateStore_Corrupt(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t)
	l.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("state")).Put([]byte("state"), []byte("{not json")) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	l = reopen(t, l, path)
	if _, err := l.SyncState(ctx); !errors.Is(err, offline.ErrCorrupt) {
		t.Fatalf("sync state of a damaged state: got %v, want ErrCorrupt", err)
	}
	if err := l.SaveState(ctx, terminal.ServerState{ServerTime: noon.Add(time.Second), LocalTime: noon}); err != nil {
		t.Fatal(err)
	}
	if st, err := l.SyncState(ctx); err != nil || !st.LastSync.Equal(noon) || st.ServerOffset != time.Second {
		t.Fatalf("after save: got %+v %v", st, err)
	}
}

// TestStateStore_HighWater: a sync whose local time is before a record's
// (the clock was set back) does not lower the high-water time.
func TestStateStore_HighWater(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t)
	mustCommit(t, l, redemption(1, 1, noon.Add(time.Hour)))
	if err := l.SaveState(ctx, terminal.ServerState{ServerTime: noon, LocalTime: noon}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if st, err := l.SyncState(ctx); err != nil || !st.HighWater.Equal(noon.Add(time.Hour)) || !l.HighWater().Equal(noon.Add(time.Hour)) {
			t.Errorf("%s: high water %v (%v), want %v", when, st.HighWater, err, noon.Add(time.Hour))
		}
	}
	check("after save")
	l = reopen(t, l, path)
	check("after reopen")
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestOutbox_AckMany: acknowledgements stored together by AckMany leave
// the ledger as Ack leaves it storing them one after another (outcomes,
// conflicts, watermark, unsynced counts), and refuse with ErrAck the same
// ones, which stop none of the others.
func TestOutbox_AckMany(t *testing.T) {
	ctx := context.Background()
	acc, dup, con := terminal.Accepted, terminal.Duplicate, terminal.Conflict
	o := func(seq uint64, r terminal.Result) terminal.Outcome {
		return terminal.Outcome{Seq: seq, Result: r, Detail: fmt.Sprintf("%s %d", r, seq)}
	}
	type ack struct {
		w    uint64
		outs []terminal.Outcome
	}
	for name, acks := range map[string][]ack{
		"drain":      {{2, []terminal.Outcome{o(1, acc), o(2, acc)}}, {4, []terminal.Outcome{o(3, con), o(4, acc)}}, {6, []terminal.Outcome{o(5, dup), o(6, acc)}}},
		"refused":    {{2, []terminal.Outcome{o(1, acc), o(2, con)}}, {99, []terminal.Outcome{o(3, acc)}}, {3, []terminal.Outcome{o(3, acc)}}, {3, []terminal.Outcome{o(9, acc)}}, {4, []terminal.Outcome{o(4, "maybe")}}, {4, nil}},
		"back":       {{5, []terminal.Outcome{o(5, acc)}}, {2, []terminal.Outcome{o(2, dup)}}, {4, []terminal.Outcome{o(3, acc), o(4, con)}}},
		"none":       {{99, nil}, {1, []terminal.Outcome{o(0, acc)}}},
		"rank":       {{1, []terminal.Outcome{o(1, dup)}}, {1, []terminal.Outcome{o(1, acc)}}, {2, []terminal.Outcome{o(2, con), o(1, dup)}}, {2, []terminal.Outcome{o(2, acc)}}},
		"watermarks": {{3, nil}, {3, nil}, {1, nil}, {6, nil}},
	} {
		t.Run(name, func(t *testing.T) {
			one, _ := MustOpen(t)
			many, _ := MustOpen(t)
			for _, l := range []*offline.Ledger{one, many} {
				for i := uint64(1); i <= 5; i++ {
					mustCommit(t, l, redemption(i, i, noon))
				}
				mustCommit(t, l, refund(mustGet(t, l, "T1-0000000001"), false))
				if err := l.Ack(ctx, 1, nil); err != nil {
					t.Fatal(err)
				}
			}
			var ws []uint64
			var outs [][]terminal.Outcome
			var want []error
			for _, a := range acks {
				ws, outs = append(ws, a.w), append(outs, a.outs)
				want = append(want, one.Ack(ctx, a.w, a.outs))
			}
			errs, err := many.AckMany(ctx, ws, outs)
			if err != nil || len(errs) != len(acks) {
				t.Fatalf("AckMany: %v, %d errors", err, len(errs))
			}
			for i := range acks {
				if errors.Is(errs[i], offline.ErrAck) != errors.Is(want[i], offline.ErrAck) || (errs[i] == nil) != (want[i] == nil) {
					t.Errorf("ack %d: got %v, Ack %v", i, errs[i], want[i])
				}
			}
			if one.Watermark() != many.Watermark() {
				t.Errorf("watermark %d, Ack %d", many.Watermark(), one.Watermark())
			}
			n1, fen1, _ := one.Unsynced(ctx)
			wantUnsynced(t, many, n1, fen1)
			for seq := uint64(1); seq <= 6; seq++ {
				id := fmt.Sprintf("T1-%010d", seq)
				e1, err1 := one.Entry(ctx, id)
				e2, err2 := many.Entry(ctx, id)
				if err1 != nil || err2 != nil || e1.Sync != e2.Sync || e1.Detail != e2.Detail {
					t.Errorf("seq %d: got %q %q %v, Ack %q %q %v", seq, e2.Sync, e2.Detail, err2, e1.Sync, e1.Detail, err1)
				}
			}
			c1, _ := one.Conflicts(ctx)
			c2, _ := many.Conflicts(ctx)
			if len(c1) != len(c2) {
				t.Errorf("%d conflicts, Ack %d", len(c2), len(c1))
			}
		})
	}
}
