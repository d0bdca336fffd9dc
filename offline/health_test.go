package offline_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/terminal"
)

// copyFile copies the ledger file as a crash would leave it: what the last
// commit put in the file, nothing the process still held in memory.
func copyFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dst := filepath.Join(tb.TempDir(), "crashed.db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return dst
}

func highWaterOf(tb testing.TB, path string) time.Time {
	tb.Helper()
	o := options()
	o.Every = -1
	l, err := offline.Open(path, o)
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.HighWater()
}

// TestHealth_HighWater: the latest time the clock showed at a decision is
// durable, batched: Observe alone writes nothing (no fsync per decision),
// the next write or the background tick carries it, and a restart keeps it.
func TestHealth_HighWater(t *testing.T) {
	ctx := context.Background()
	t.Run("CarriedByCommit", func(t *testing.T) {
		l, path := MustOpen(t, func(o *offline.Options) { o.Every = -1 })
		mustCommit(t, l, redemption(1, 1, noon))
		later := noon.Add(3 * time.Hour)
		l.Observe(later)
		if got := highWaterOf(t, copyFile(t, path)); !got.Equal(noon) {
			t.Fatalf("high water %v on disk right after Observe, want %v: a decision must not cost a write", got, noon)
		}
		mustCommit(t, l, redemption(2, 2, noon.Add(time.Minute)))
		if got := highWaterOf(t, copyFile(t, path)); !got.Equal(later) {
			t.Fatalf("high water %v after the next commit, want %v", got, later)
		}
	})
	t.Run("Background", func(t *testing.T) {
		l, path := MustOpen(t, func(o *offline.Options) { o.Every = 10 * time.Millisecond })
		later := noon.Add(5 * time.Hour)
		l.Observe(later)
		deadline := time.Now().Add(20 * time.Second)
		for !highWaterOf2(t, path).Equal(later) {
			if time.Now().After(deadline) {
				t.Fatal("the background work never wrote the high-water time")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("Close", func(t *testing.T) {
		l, path := MustOpen(t, func(o *offline.Options) { o.Every = -1 })
		later := noon.Add(7 * time.Hour)
		l.Observe(later)
		l.Observe(noon) // never back
		l = reopen(t, l, path)
		if got := l.HighWater(); !got.Equal(later) {
			t.Fatalf("high water after a restart %v, want %v", got, later)
		}
		s, err := l.SyncState(ctx)
		if err != nil || !s.HighWater.Equal(later) {
			t.Fatalf("sync state %+v, %v", s, err)
		}
	})
}

// highWaterOf2 reads the high-water time of a file another ledger holds open.
func highWaterOf2(tb testing.TB, path string) time.Time { return highWaterOf(tb, copyFile(tb, path)) }

// TestHealth_NotRegular: a FIFO, a directory or a device in place of the
// ledger is refused at once (a FIFO used to hang the agent's start).
func TestHealth_NotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.db")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, dir, "/dev/null"} {
		done := make(chan error, 1)
		go func() { _, err := offline.Open(path, options()); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, offline.ErrNotRegular) {
				t.Errorf("%s: got %v, want ErrNotRegular", path, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: Open hangs", path)
		}
	}
	for _, f := range []func() error{
		func() error {
			_, err := offline.VerifyFile(context.Background(), fifo, termKey.Public().(ed25519.PublicKey))
			return err
		},
	} {
		done := make(chan error, 1)
		go func() { done <- f() }()
		select {
		case err := <-done:
			if !errors.Is(err, offline.ErrNotRegular) {
				t.Errorf("verify a FIFO: got %v, want ErrNotRegular", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("VerifyFile hangs on a FIFO")
		}
	}
}

// TestHealth_Disk: below the warning the ledger says so (Usage, the log);
// below the reserve it refuses redemptions with ErrDiskFull and holds
// offline ones, while refunds, acks and server state still go in.
func TestHealth_Disk(t *testing.T) {
	ctx := context.Background()
	var free atomic.Int64
	free.Store(1 << 30)
	var logs strings.Builder
	l, _ := MustOpen(t, offline.WithDiskFree(func(string) (int64, error) { return free.Load(), nil }),
		func(o *offline.Options) {
			o.Every = -1
			o.DiskReserve = 64 << 20
			o.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
		})
	orig := mustCommit(t, l, redemption(1, 1, noon))
	free.Store(200 << 20) // below the warning (4 × the reserve)
	offline.RefreshDisk(l)
	mustCommit(t, l, redemption(2, 2, noon))
	if u := l.Usage(); !u.DiskLow || u.DiskFull || u.DiskFreeBytes != 200<<20 {
		t.Fatalf("usage %+v, want disk_low", u)
	}
	if !strings.Contains(logs.String(), "disk nearly full") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
	free.Store(10 << 20) // below the reserve
	offline.RefreshDisk(l)
	if u := l.Usage(); !u.DiskFull {
		t.Fatalf("usage %+v, want disk_full", u)
	}
	if s, _ := l.SyncState(ctx); s.Hold != terminal.ReasonDiskFull {
		t.Fatalf("hold %q, want %q", s.Hold, terminal.ReasonDiskFull)
	}
	r := redemption(3, 3, noon)
	r.Online = true
	if err := l.Commit(ctx, r); !errors.Is(err, offline.ErrDiskFull) {
		t.Fatalf("redemption on a full disk: got %v, want ErrDiskFull", err)
	}
	mustCommit(t, l, refund(orig, true))
	if err := l.Ack(ctx, 3, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.SaveState(ctx, terminal.ServerState{LocalTime: noon}); err != nil {
		t.Fatal(err)
	}
	free.Store(1 << 30)
	offline.RefreshDisk(l)
	if s, _ := l.SyncState(ctx); s.Hold != "" {
		t.Fatalf("hold %q with room again", s.Hold)
	}
	mustCommit(t, l, redemption(3, 3, noon))
}

// tamperAmount changes one digit of a stored record's discount in the file
// itself, as a hand with a hex editor would: 20 yuan becomes 90.
func tamperAmount(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	// The first record's body, wherever it is (bbolt leaves old copies of
	// pages in free pages, so change every copy).
	pat := []byte(`"id":"T1-0000000001"`)
	n := 0
	for off := 0; ; {
		i := bytes.Index(b[off:], pat)
		if i < 0 {
			break
		}
		j := bytes.Index(b[off+i:], []byte(`"discount_fen":2000`))
		if j < 0 {
			break
		}
		at := off + i + j + len(`"discount_fen":`)
		if _, err := f.WriteAt([]byte("9"), int64(at)); err != nil {
			tb.Fatal(err)
		}
		n++
		off = at
	}
	if n == 0 {
		tb.Fatal("no record to tamper with")
	}
}

// TestHealth_Audit: a changed amount in a stored record is found by the
// ledger's own audit, at start and while it runs; the ledger then holds
// offline redemptions (online ones are still recorded).
func TestHealth_Audit(t *testing.T) {
	ctx := context.Background()
	t.Run("AtStart", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ledger.db")
		o := options()
		o.Every = 10 * time.Millisecond
		l, err := offline.Open(path, o)
		if err != nil {
			t.Fatal(err)
		}
		for i := uint64(1); i <= 5; i++ {
			mustCommit(t, l, redemption(i, i, noon))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		tamperAmount(t, path)
		l, err = offline.Open(path, o)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		deadline := time.Now().Add(20 * time.Second)
		for l.Fault() == nil {
			if time.Now().After(deadline) {
				t.Fatalf("the audit never found the changed amount: %+v", l.Audit())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !errors.Is(l.Fault(), terminal.ErrChain) || l.Audit().Fault == "" {
			t.Fatalf("fault %v, audit %+v", l.Fault(), l.Audit())
		}
	})
	t.Run("WhileRunning", func(t *testing.T) {
		l, path := MustOpen(t, func(o *offline.Options) { o.Every = -1 })
		for i := uint64(1); i <= 5; i++ {
			mustCommit(t, l, redemption(i, i, noon))
		}
		if passed, err := l.AuditStep(ctx, 2); passed || err != nil {
			t.Fatalf("first step: passed %v, %v", passed, err)
		}
		tamperAmount(t, path) // record 1: the audit is past it, until its next pass
		if passed, err := l.AuditStep(ctx, 10); !passed || err != nil {
			t.Fatalf("second step: passed %v, %v", passed, err)
		}
		if a := l.Audit(); a.Passes != 1 || a.Seq != 5 || a.Fault != "" {
			t.Fatalf("audit %+v", a)
		}
		// A new pass starts over after the pause; simulate it by a new ledger handle.
		l2 := reopen(t, l, path)
		_, err := l2.AuditStep(ctx, 10)
		if !errors.Is(err, terminal.ErrChain) || l2.Fault() == nil {
			t.Fatalf("audit of the tampered file: %v, fault %v", err, l2.Fault())
		}
		if s, _ := l2.SyncState(ctx); s.Hold != terminal.ReasonLedgerFault {
			t.Fatalf("hold %q, want %q", s.Hold, terminal.ReasonLedgerFault)
		}
		if err := l2.Commit(ctx, redemption(6, 6, noon)); !errors.Is(err, offline.ErrFault) {
			t.Fatalf("offline redemption on a faulted ledger: got %v, want ErrFault", err)
		}
		online := redemption(6, 6, noon)
		online.Online = true
		mustCommit(t, l2, online)
	})
}
