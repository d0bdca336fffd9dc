package hub_test

import (
	"encoding/binary"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// A claim whose sale never comes and that is never released (the terminal
// lost power mid-sale) is dropped from the hub's file once it has expired;
// claims still running are kept.
func TestHub_SweepsExpiredHolds(t *testing.T) {
	var mu sync.Mutex
	now := day.Add(12 * time.Hour)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	th := hubWithTerminals(t, hub.Options{Now: clock, HoldTTL: 5 * time.Minute},
		terminal.Yuan(200), terminal.Yuan(40), 3, "T1")
	r, _ := dialRaw(t, th.srv, th.creds[0])
	claim := func(id uint64, code string) terminal.VoucherID {
		t.Helper()
		v, err := terminal.ParseCode(code)
		if err != nil {
			t.Fatal(err)
		}
		r.write(&wire.Message{Type: wire.TypeClaim, ID: id, Voucher: v.ID, Code: code})
		ans := r.read()
		for ans.Type != wire.TypeClaimResult {
			ans = r.read()
		}
		if ans.ID != id || ans.Result != wire.ClaimOK {
			t.Fatalf("claim %d: %+v", id, ans)
		}
		return v.ID
	}
	claim(1, th.codes[0]) // held until +5 min, then abandoned
	advance(2 * time.Minute)
	second := claim(2, th.codes[1]) // held until +7 min
	advance(4 * time.Minute)
	third := claim(3, th.codes[2]) // the first hold has run out: swept after this commit
	r.ws.Close()
	if err := th.h.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := bolt.Open(filepath.Join(th.dir, boltstore.File), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var held []terminal.VoucherID
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("holds")).ForEach(func(k, _ []byte) error {
			held = append(held, terminal.VoucherID(binary.BigEndian.Uint64(k)))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []terminal.VoucherID{second, third}
	slices.Sort(held)
	slices.Sort(want)
	if !slices.Equal(held, want) {
		t.Fatalf("holds in the file: %v, want %v (the expired one dropped, the running ones kept)", held, want)
	}
}
