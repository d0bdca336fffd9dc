package offline_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/terminal"
)

// errCrash stands for the process dying inside the transaction.
var errCrash = errors.New("crash before commit")

func TestFault_CrashBeforeCommit(t *testing.T) {
	ctx := context.Background()
	for name, inject := range map[string]func(l *offline.Ledger) (context.Context, func()){
		"Hook": func(l *offline.Ledger) (context.Context, func()) {
			offline.SetBeforeCommit(l, func() error { return errCrash })
			return ctx, func() { offline.SetBeforeCommit(l, nil) }
		},
		"ContextCancelledInTx": func(l *offline.Ledger) (context.Context, func()) {
			cctx, cancel := context.WithCancel(ctx)
			offline.SetBeforeCommit(l, func() error { cancel(); return nil })
			return cctx, func() { offline.SetBeforeCommit(l, nil) }
		},
		"ContextCancelledBefore": func(l *offline.Ledger) (context.Context, func()) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			return cctx, func() {}
		},
	} {
		t.Run(name, func(t *testing.T) {
			l, path := MustOpen(t)
			orig := mustCommit(t, l, redemption(1, 100, noon))
			cctx, restore := inject(l)
			for _, r := range []*terminal.Redemption{redemption(2, 200, noon), refund(orig, true)} {
				before := *r
				if err := l.Commit(cctx, r); err == nil {
					t.Fatalf("commit of %s succeeded through a crash", r.Kind)
				}
				if r.Seq != before.Seq || r.ID != before.ID || r.TerminalID != before.TerminalID {
					t.Fatalf("failed commit changed the record: %+v", r)
				}
			}
			if err := l.Ack(cctx, 1, []terminal.Outcome{{Seq: 1, Result: terminal.Accepted}}); err == nil {
				t.Fatal("ack succeeded through a crash")
			}
			if err := l.SaveState(cctx, terminal.ServerState{LocalTime: noon}); err == nil {
				t.Fatal("save state succeeded through a crash")
			}
			restore()
			check := func(l *offline.Ledger) {
				t.Helper()
				if h, _ := l.HighSeq(ctx); h != 1 {
					t.Fatalf("high seq %d, want 1", h)
				}
				if l.Redeemed(2) || !l.Redeemed(1) {
					t.Fatal("index changed by a rolled-back commit")
				}
				if _, ok := l.LastByHolder(200); ok {
					t.Fatal("split-bill memory changed by a rolled-back commit")
				}
				if refs, _ := l.Refunds(ctx, orig.ID); len(refs) != 0 {
					t.Fatalf("refund index changed: %v", refs)
				}
				if l.Watermark() != 0 {
					t.Fatal("watermark changed by a rolled-back ack")
				}
				if _, err := l.LoadState(ctx); !errors.Is(err, offline.ErrNoState) {
					t.Fatalf("state: got %v, want ErrNoState", err)
				}
				wantUnsynced(t, l, 1, terminal.Yuan(20))
				if _, err := l.Verify(ctx); err != nil {
					t.Fatal(err)
				}
			}
			check(l)
			l = reopen(t, l, path)
			check(l)
			// The ledger goes on: the next commit takes seq 2.
			if r := mustCommit(t, l, redemption(2, 200, noon)); r.Seq != 2 {
				t.Fatalf("next commit: seq %d, want 2", r.Seq)
			}
		})
	}
}

func TestFault_Full(t *testing.T) {
	ctx := context.Background()
	var logs strings.Builder
	l, _ := MustOpen(t, func(o *offline.Options) {
		o.MaxSize = 1 << 20
		o.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
	})
	var last *terminal.Redemption
	var err error
	for i := uint64(1); i < 10_000 && err == nil; i += 20 { // 20 a transaction: fewer fsyncs
		batch := make([]*terminal.Redemption, 20)
		for j := range batch {
			batch[j] = redemption(i+uint64(j), i+uint64(j), noon)
		}
		if err = l.CommitMany(ctx, batch); err == nil {
			last = batch[19]
		}
	}
	if !errors.Is(err, offline.ErrFull) {
		t.Fatalf("filling the ledger: got %v, want ErrFull", err)
	}
	u := l.Usage()
	if !u.Full || !u.Alarm || u.UsedBytes > u.MaxSize || u.FileBytes > u.MaxSize {
		t.Fatalf("usage: %+v", u)
	}
	if !strings.Contains(logs.String(), "nearly full") {
		t.Fatalf("no alarm logged: %q", logs.String())
	}
	// The reserve takes refunds, acknowledgements and server state.
	mustCommit(t, l, refund(last, true))
	if err := l.Ack(ctx, last.Seq, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.SaveState(ctx, terminal.ServerState{LocalTime: noon}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestFault_Open(t *testing.T) {
	dir := t.TempDir()
	t.Run("ErrCorrupt", func(t *testing.T) {
		for name, data := range map[string][]byte{
			"garbage":   []byte(strings.Repeat("not a bbolt file at all ", 1000)),
			"short":     []byte("VC1"),
			"zero page": make([]byte, 16384),
		} {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := offline.Open(path, options()); !errors.Is(err, offline.ErrCorrupt) {
				t.Errorf("%s: got %v, want ErrCorrupt", name, err)
			}
		}
	})
	t.Run("ErrForeign", func(t *testing.T) {
		other := filepath.Join(dir, "other.db")
		db, err := bolt.Open(other, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("ledger")); return err })
		db.Close()
		if _, err := offline.Open(other, options()); !errors.Is(err, offline.ErrForeign) {
			t.Errorf("another program's bbolt file: got %v, want ErrForeign", err)
		}
		_, path := MustOpen(t)
		os.Remove(path) // MustOpen's cleanup checks the file; give it a fresh one
		l, err := offline.Open(path, options())
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		for name, f := range map[string]func(*offline.Options){
			"terminal": func(o *offline.Options) { o.TerminalID = "T2" },
			"merchant": func(o *offline.Options) { o.MerchantID = "M2" },
			"key":      func(o *offline.Options) { o.Key = ed25519.NewKeyFromSeed(make([]byte, 32)) },
		} {
			o := options()
			f(&o)
			if _, err := offline.Open(path, o); !errors.Is(err, offline.ErrForeign) {
				t.Errorf("other %s: got %v, want ErrForeign", name, err)
			}
		}
	})
	t.Run("ErrLocked", func(t *testing.T) {
		_, path := MustOpen(t)
		o := options()
		o.LockTimeout = 50 * time.Millisecond
		if _, err := offline.Open(path, o); !errors.Is(err, offline.ErrLocked) {
			t.Errorf("second open: got %v, want ErrLocked", err)
		}
	})
	t.Run("Options", func(t *testing.T) {
		for name, f := range map[string]func(*offline.Options){
			"no terminal": func(o *offline.Options) { o.TerminalID = "" },
			"no key":      func(o *offline.Options) { o.Key = nil },
			"tiny":        func(o *offline.Options) { o.MaxSize = 4096 },
		} {
			o := options()
			f(&o)
			if _, err := offline.Open(filepath.Join(dir, "opts.db"), o); err == nil {
				t.Errorf("%s: opened", name)
			}
		}
	})
	t.Run("ErrClosed", func(t *testing.T) {
		l, err := offline.Open(filepath.Join(dir, "closed.db"), options())
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if err := l.Commit(context.Background(), redemption(1, 1, noon)); !errors.Is(err, offline.ErrClosed) {
			t.Errorf("commit after close: got %v", err)
		}
		if _, err := l.Pending(context.Background(), 0, 1); !errors.Is(err, offline.ErrClosed) {
			t.Errorf("pending after close: got %v", err)
		}
		if err := l.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
	})
}

// TestFault_Tamper alters the file behind the ledger's back, as someone
// deleting an inconvenient offline redemption would, and checks that the
// audit finds it.
func TestFault_Tamper(t *testing.T) {
	ctx := context.Background()
	pub := termKey.Public().(ed25519.PublicKey)
	for name, tamper := range map[string]func(tx *bolt.Tx) error{
		"AlteredBody": func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("records"))
			v := append([]byte(nil), b.Get(u64key(2))...)
			i := bytes.Index(v, []byte(`"discount_fen":2000`))
			copy(v[i:], `"discount_fen":9000`)
			return b.Put(u64key(2), v)
		},
		"DeletedRecord": func(tx *bolt.Tx) error { return tx.Bucket([]byte("records")).Delete(u64key(2)) },
		"SwappedRecords": func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("records"))
			v2, v3 := append([]byte(nil), b.Get(u64key(2))...), append([]byte(nil), b.Get(u64key(3))...)
			_ = b.Put(u64key(2), v3)
			return b.Put(u64key(3), v2)
		},
		"ResignedWithOtherKey": func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("records"))
			v := append([]byte(nil), b.Get(u64key(2))...)
			copy(v[65:129], ed25519.Sign(ed25519.NewKeyFromSeed(make([]byte, 32)), v[33:65]))
			return b.Put(u64key(2), v)
		},
		"DeletedLast": func(tx *bolt.Tx) error { return tx.Bucket([]byte("records")).Delete(u64key(3)) },
	} {
		t.Run(name, func(t *testing.T) {
			l, path := MustOpen(t)
			for i := uint64(1); i <= 3; i++ {
				mustCommit(t, l, redemption(i, i, noon))
			}
			if a, err := l.Verify(ctx); err != nil || a.Records != 3 {
				t.Fatalf("before: %+v %v", a, err)
			}
			l.Close()
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tamper); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if _, err := offline.VerifyFile(ctx, path, pub); !errors.Is(err, terminal.ErrChain) {
				t.Fatalf("verify file: got %v, want ErrChain", err)
			}
			l2, err := offline.Open(path, options())
			if err != nil {
				if !errors.Is(err, terminal.ErrChain) {
					t.Fatalf("open: got %v, want ErrChain", err)
				}
				return
			}
			defer l2.Close()
			if _, err := l2.Verify(ctx); !errors.Is(err, terminal.ErrChain) {
				t.Fatalf("verify: got %v, want ErrChain", err)
			}
		})
	}
}

func TestCompact(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t)
	fill(t, l, rand.New(rand.NewPCG(3, 4)), 400)
	if err := l.Ack(ctx, 400, nil); err != nil {
		t.Fatal(err)
	}
	want, _ := l.Verify(ctx)
	dst := filepath.Join(t.TempDir(), "compact.db")
	if _, err := offline.Compact(ctx, dst, path, l.PublicKey()); !errors.Is(err, offline.ErrLocked) {
		t.Fatalf("compact while open: got %v, want ErrLocked", err)
	}
	l.Close()
	got, err := offline.Compact(ctx, dst, path, l.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("compacted audit %+v, want %+v", got, want)
	}
	MustCheck(t, dst)
	if _, err := offline.Compact(ctx, dst, path, l.PublicKey()); !errors.Is(err, offline.ErrExists) {
		t.Fatalf("compact onto an existing file: got %v, want ErrExists", err)
	}
	l2, err := offline.Open(dst, options())
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if h, _ := l2.HighSeq(ctx); h != 400 || l2.Watermark() != 400 {
		t.Fatalf("compacted: high seq %d watermark %d", h, l2.Watermark())
	}
	if r := mustCommit(t, l2, redemption(1, 1, noon)); r.Seq != 401 {
		t.Fatalf("commit after compaction: seq %d", r.Seq)
	}
}

// TestFault_Kill commits in a child process and kills it (SIGKILL) in the
// middle: every commit the child saw return must be in the file, which
// must open, verify and pass bbolt's check.
func TestFault_Kill(t *testing.T) {
	if path := os.Getenv("OFFLINE_KILL_CHILD"); path != "" {
		killChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFault_Kill$")
	cmd.Env = append(os.Environ(), "OFFLINE_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var done uint64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
			done, _ = strconv.ParseUint(n, 10, 64)
			if done >= 40 {
				break
			}
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if done < 40 {
		t.Fatalf("child committed %d records before dying", done)
	}
	MustCheck(t, path)
	l, err := offline.Open(path, options())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.Records < done {
		t.Fatalf("after kill: %d records, the child saw %d committed", a.Records, done)
	}
	for i := uint64(1); i <= a.Records; i++ {
		if !l.Redeemed(terminal.VoucherID(i)) {
			t.Fatalf("voucher %d not live after reopen", i)
		}
	}
}

func killChild(path string) {
	l, err := offline.Open(path, options())
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := uint64(1); ; i++ {
		if err := l.Commit(context.Background(), redemption(i, i, noon)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("committed", i)
	}
}

// TestFault_BitFlips damages a ledger file one byte at a time, in every
// page: in its header (count, overflow), its first element and its middle. Open, Verify and VerifyFile must never panic or crash
// (bbolt trusts page headers: the ledger checks the page structure before
// bbolt maps the file, and runs its transactions with
// debug.SetPanicOnFault), and every error they give is ErrCorrupt,
// ErrForeign or terminal.ErrChain.
func TestFault_BitFlips(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t)
	for i := uint64(1); i <= 30; i++ {
		mustCommit(t, l, redemption(i, i, noon))
	}
	l.Close()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pub := termKey.Public().(ed25519.PublicKey)
	known := func(err error) bool {
		return errors.Is(err, offline.ErrCorrupt) || errors.Is(err, offline.ErrForeign) || errors.Is(err, terminal.ErrChain)
	}
	var found int
	var offsets []int
	for page := 0; page < len(orig); page += 4096 {
		offsets = append(offsets, page+11, page+15, page+20, page+28, page+1500)
	}
	for _, off := range offsets {
		b := append([]byte(nil), orig...)
		b[off] ^= 0x5a
		p := filepath.Join(dir, strconv.Itoa(off))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, ferr := offline.VerifyFile(ctx, p, pub)
		if ferr != nil && !known(ferr) {
			t.Errorf("offset %d: verify file: %v", off, ferr)
		}
		l, err := offline.Open(p, options())
		if err == nil {
			_, err = l.Verify(ctx)
			l.Close()
		}
		if err != nil && !known(err) {
			t.Errorf("offset %d: %v", off, err)
		}
		if err != nil || ferr != nil {
			found++
		}
	}
	if found == 0 {
		t.Fatal("no damage found at all")
	}
}
