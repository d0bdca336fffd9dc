package pgstore_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestCommitAfter_TakesFromTheGroupBefore: a group decided while the one
// before it commits reads what that one leaves (not the database), commits
// after it, and only if the database then holds what it took; if the group
// before fails, or a row it left is not there (another instance changed
// it), nothing of the group is written.
func TestCommitAfter_TakesFromTheGroupBefore(t *testing.T) {
	s := MustOpen(t)
	defer s.Close()
	ctx := context.Background()
	if err := s.AddMerchant(ctx, terminal.Merchant{ID: "M1", Name: "M1", Category: terminal.Retail}); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if err := s.AddTerminal(ctx, hub.TerminalRecord{ID: "T1", MerchantID: "M1", Public: pub, Added: time.Now()}); err != nil {
		t.Fatal(err)
	}
	head := func(seq uint64) hub.Head { return hub.Head{Seq: seq, Hash: [32]byte{byte(seq)}} }
	keys := &hub.Keys{Terminals: []string{"T1"}, Memos: []string{"k"}}
	// The database: T1 at 5, memo k "v5".
	if err := s.Commit(ctx, keys, func(tx hub.Tx) error {
		if err := tx.SetHead("T1", head(5)); err != nil {
			return err
		}
		return tx.PutMemo("k", []byte("v5"))
	}); err != nil {
		t.Fatal(err)
	}
	// next moves T1 one past what it reads and memo k to "n"+what it reads.
	next := func(prev hub.Pending) (hub.Pending, hub.Head, string) {
		t.Helper()
		var saw hub.Head
		var memo string
		p, err := s.CommitAfter(ctx, keys, func(tx hub.Tx) error {
			h, err := tx.Head("T1")
			if err != nil {
				return err
			}
			v, _, err := tx.Memo("k")
			if err != nil {
				return err
			}
			saw, memo = h, string(v)
			if err := tx.PutMemo("k", append([]byte("n"), v...)); err != nil {
				return err
			}
			return tx.SetHead("T1", head(h.Seq+1))
		}, prev)
		if err != nil {
			t.Fatal(err)
		}
		return p, saw, memo
	}
	stored := func() (hub.Head, string) {
		t.Helper()
		h, err := s.Head(ctx, "T1")
		if err != nil {
			t.Fatal(err)
		}
		var v []byte
		if err := s.Commit(ctx, keys, func(tx hub.Tx) error { v, _, err = tx.Memo("k"); return err }); err != nil {
			t.Fatal(err)
		}
		return h, string(v)
	}

	for _, c := range []struct {
		name      string
		leaves    uint64 // T1's head the group before leaves
		memo      string // memo k it leaves
		prevErr   error  // its result
		committed bool   // the next group commits
	}{
		{"the group before leaves what the database will hold", 5, "v5", nil, true},
		{"its chain head is not there", 9, "nv5", nil, false},
		{"its memo is not there", 6, "other", nil, false},
		{"it did not commit", 6, "nv5", errors.New("lost"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, beforeMemo := stored()
			prev, release := pgstore.HeldCommit(map[string]hub.Head{"T1": head(c.leaves)}, map[string][]byte{"k": []byte(c.memo)})
			p, saw, memo := next(prev)
			if saw != head(c.leaves) || memo != c.memo {
				t.Fatalf("decided over head %d memo %q, want what the group before leaves: %d %q", saw.Seq, memo, c.leaves, c.memo)
			}
			select {
			case <-p.Done():
				t.Fatal("committed before the group before it")
			case <-time.After(50 * time.Millisecond):
			}
			release(c.prevErr)
			err := p.Wait()
			h, v := stored()
			if c.committed {
				if err != nil || h != head(c.leaves+1) || v != "n"+c.memo {
					t.Fatalf("got %v, head %d memo %q; want committed: head %d memo %q", err, h.Seq, v, c.leaves+1, "n"+c.memo)
				}
				return
			}
			if err == nil || errors.Is(err, hub.ErrOutcomeUnknown) || h != before || v != beforeMemo {
				t.Fatalf("got %v, head %d memo %q; want an error and nothing written (head %d memo %q)", err, h.Seq, v, before.Seq, beforeMemo)
			}
		})
	}

	// A group before that deletes memo k (a sweep of the holder memos):
	// the next group reads it absent, and commits only if the database
	// then lacks it too.
	t.Run("its memo deleted but there", func(t *testing.T) {
		before, beforeMemo := stored()
		prev, release := pgstore.HeldCommit(map[string]hub.Head{"T1": before}, map[string][]byte{"k": nil})
		p, _, memo := next(prev)
		if memo != "" {
			t.Fatalf("decided over memo %q, want it absent as the group before leaves it", memo)
		}
		release(nil)
		if err := p.Wait(); err == nil {
			t.Fatal("committed over a memo the database still holds")
		}
		if h, v := stored(); h != before || v != beforeMemo {
			t.Fatalf("head %d memo %q; want nothing written (head %d memo %q)", h.Seq, v, before.Seq, beforeMemo)
		}
	})
	t.Run("its memo deleted and gone", func(t *testing.T) {
		if err := s.Commit(ctx, keys, func(tx hub.Tx) error { return tx.DeleteMemo("k") }); err != nil {
			t.Fatal(err)
		}
		before, _ := stored()
		prev, release := pgstore.HeldCommit(map[string]hub.Head{"T1": before}, map[string][]byte{"k": nil})
		p, _, _ := next(prev)
		release(nil)
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if h, v := stored(); h.Seq != before.Seq+1 || v != "n" {
			t.Fatalf("head %d memo %q; want %d and %q", h.Seq, v, before.Seq+1, "n")
		}
	})
}
