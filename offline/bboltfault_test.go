//go:build bboltfault

package offline_test

// Built only by TestFault_Disk (diskfault_test.go), with an overlay that
// gives bbolt a FaultHook around its file writes and fdatasyncs
// (go test -run TestFault_Disk -v ./offline/ runs them).

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/terminal"
)

// injected is the fault armed for the next commit.
var injected struct {
	mu     sync.Mutex
	kind   string // "" (none), or a key of faultKinds
	syncs  int    // fdatasyncs since armed
	fired  bool
	onFire func()
	block  chan struct{} // block-sync: the meta sync waits for it
	held   chan struct{} // closed when the blocked sync is waiting
}

func init() { bolt.FaultHook = faultHook }

// metaEnd is the end of bbolt's two meta pages (page 0 and 1).
var metaEnd = int64(2 * os.Getpagesize())

// faultKinds are the faults, by the write or sync they hit in one commit:
// bbolt writes the dirty data pages, fdatasyncs, writes the meta page and
// fdatasyncs again.
var faultKinds = map[string]struct {
	op     string
	meta   bool // the meta page's write, or the second sync
	err    error
	commit bool // the record is in the file afterwards
}{
	"DataWriteEIO": {op: "write", err: syscall.EIO},
	"DataSyncEIO":  {op: "sync", err: syscall.EIO},
	"MetaWriteEIO": {op: "write", meta: true, err: syscall.EIO},
	"MetaSyncEIO":  {op: "sync", meta: true, err: syscall.EIO, commit: true},
	"DiskFull":     {op: "write", err: syscall.ENOSPC},
}

func faultHook(op string, off int64, n int) error {
	injected.mu.Lock()
	defer injected.mu.Unlock()
	if injected.kind == "" || injected.fired {
		return nil
	}
	if injected.kind == "SlowSync" {
		if op == "sync" {
			injected.syncs++
			if injected.syncs == 2 {
				injected.fired = true
				close(injected.held)
				block := injected.block
				injected.mu.Unlock()
				<-block
				injected.mu.Lock()
			}
		}
		return nil
	}
	k := faultKinds[injected.kind]
	if op == "sync" {
		injected.syncs++
	}
	hit := false
	switch {
	case op != k.op:
	case op == "write":
		hit = (off < metaEnd) == k.meta
	case op == "sync":
		hit = (injected.syncs == 2) == k.meta
	}
	if !hit {
		return nil
	}
	injected.fired = true
	if injected.onFire != nil {
		injected.onFire()
	}
	return k.err
}

// arm injects kind into the next commit; the returned func reports whether it fired.
func arm(kind string, onFire func()) func() bool {
	injected.mu.Lock()
	defer injected.mu.Unlock()
	injected.kind, injected.syncs, injected.fired, injected.onFire = kind, 0, false, onFire
	if kind == "SlowSync" {
		injected.block, injected.held = make(chan struct{}), make(chan struct{})
	}
	return func() bool {
		injected.mu.Lock()
		defer injected.mu.Unlock()
		fired := injected.fired
		injected.kind = ""
		return fired
	}
}

// quiet is a ledger without background work, so that only the test's
// commits meet the injected faults.
func quiet(o *offline.Options) { o.Every = -1 }

// TestBoltFault_Commit fails one commit at each of its writes and syncs and
// checks that Commit tells the truth: committed (the meta page is in the
// file: the record counts and will sync) or offline.ErrNotCommitted, and
// that the next sale succeeds on the same Ledger, without a restart.
func TestBoltFault_Commit(t *testing.T) {
	ctx := context.Background()
	for kind, k := range faultKinds {
		t.Run(kind, func(t *testing.T) {
			l, path := MustOpen(t, quiet)
			mustCommit(t, l, redemption(1, 100, noon))
			fired := arm(kind, nil)
			r2 := redemption(2, 200, noon.Add(time.Minute))
			err := l.Commit(ctx, r2)
			if !fired() {
				t.Fatal("the fault was not injected")
			}
			if k.commit {
				if err != nil || r2.Seq != 2 || r2.ID != "T1-0000000002" {
					t.Fatalf("meta page written, sync failed: got %v (seq %d), want committed as seq 2", err, r2.Seq)
				}
			} else {
				if !errors.Is(err, offline.ErrNotCommitted) || r2.Seq != 0 || r2.ID != "" {
					t.Fatalf("got %v (seq %d), want ErrNotCommitted and the record untouched", err, r2.Seq)
				}
				if kind == "DiskFull" && !errors.Is(err, offline.ErrDiskFull) {
					t.Fatalf("got %v, want ErrDiskFull", err)
				}
			}
			check := func(l *offline.Ledger) {
				t.Helper()
				r3 := redemption(3, 300, noon.Add(2*time.Minute))
				want := uint64(2)
				if k.commit {
					want = 3
				}
				if got, _ := l.Get(ctx, terminal.RecordID("T1", want)); got == nil || got.Voucher.ID != r3.Voucher.ID {
					t.Fatalf("seq %d: got %+v, want the next sale", want, got)
				}
				if l.Redeemed(2) != k.commit {
					t.Fatalf("voucher 2 redeemed: %v, want %v", l.Redeemed(2), k.commit)
				}
				if h, _ := l.HighSeq(ctx); h != want {
					t.Fatalf("high seq %d, want %d", h, want)
				}
				wantUnsynced(t, l, int(want), terminal.Yuan(20)*terminal.Fen(want))
				if _, err := l.Verify(ctx); err != nil {
					t.Fatal(err)
				}
			}
			mustCommit(t, l, redemption(3, 300, noon.Add(2*time.Minute)))
			check(l)
			check(reopen(t, l, path))
		})
	}
}

// TestBoltFault_ReopenFails fails the meta page's sync and takes the file
// away while the ledger reopens it: nobody can know the outcome, and Commit
// says so (ErrOutcomeUnknown), the ledger is faulted and holds offline
// redemptions. With the file back the next write reopens it and goes on,
// and the first sale is found committed.
func TestBoltFault_ReopenFails(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t, quiet)
	mustCommit(t, l, redemption(1, 100, noon))
	fired := arm("MetaSyncEIO", func() {
		if err := os.Rename(path, path+".away"); err != nil {
			t.Error(err)
		}
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Error(err)
		}
	})
	err := l.Commit(ctx, redemption(2, 200, noon))
	if !fired() {
		t.Fatal("the fault was not injected")
	}
	if !errors.Is(err, offline.ErrOutcomeUnknown) {
		t.Fatalf("got %v, want ErrOutcomeUnknown", err)
	}
	if l.Fault() == nil {
		t.Fatal("no fault reported")
	}
	if s, err := l.SyncState(ctx); err != nil || s.Hold != terminal.ReasonLedgerFault {
		t.Fatalf("sync state %+v, %v: want Hold %q", s, err, terminal.ReasonLedgerFault)
	}
	if _, err := l.Pending(ctx, 0, 10); !errors.Is(err, offline.ErrOutcomeUnknown) {
		t.Fatalf("pending: got %v, want ErrOutcomeUnknown", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".away", path); err != nil {
		t.Fatal(err)
	}
	r3 := mustCommit(t, l, redemption(3, 300, noon))
	if r3.Seq != 3 || !l.Redeemed(2) || l.Fault() != nil {
		t.Fatalf("after the file came back: seq %d, voucher 2 redeemed %v, fault %v", r3.Seq, l.Redeemed(2), l.Fault())
	}
	if s, _ := l.SyncState(ctx); s.Hold != "" {
		t.Fatalf("hold %q after the file came back", s.Hold)
	}
}

// TestBoltFault_SlowDisk holds a commit in its meta page's fdatasync: the
// readers the lane and the screens use do not wait for it, and a caller
// that gives up meanwhile still gets the truth (committed), not its
// context's error.
func TestBoltFault_SlowDisk(t *testing.T) {
	ctx := context.Background()
	l, _ := MustOpen(t, quiet)
	mustCommit(t, l, redemption(1, 100, noon))
	fired := arm("SlowSync", nil)
	cctx, cancel := context.WithCancel(ctx)
	r2 := redemption(2, 200, noon)
	done := make(chan error, 1)
	go func() { done <- l.Commit(cctx, r2) }()
	<-injected.held
	reads := make(chan struct{})
	go func() {
		defer close(reads)
		if _, err := l.SyncState(ctx); err != nil {
			t.Error(err)
		}
		if _, err := l.Pending(ctx, 0, 10); err != nil {
			t.Error(err)
		}
		if _, err := l.Get(ctx, "T1-0000000001"); err != nil {
			t.Error(err)
		}
		_ = l.Redeemed(1)
		_ = l.Usage()
		_, _, _ = l.Unsynced(ctx)
	}()
	select {
	case <-reads:
	case <-time.After(20 * time.Second):
		t.Fatal("reads wait for a commit stuck in fdatasync")
	}
	cancel()
	close(injected.block)
	if err := <-done; err != nil || r2.Seq != 2 {
		t.Fatalf("slow commit: got %v (seq %d), want committed", err, r2.Seq)
	}
	if !fired() || !l.Redeemed(2) {
		t.Fatal("slow commit not in the ledger")
	}
}
