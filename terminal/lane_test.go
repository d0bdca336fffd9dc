package terminal_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/terminal"
)

// laneKit is a lane over a real offline ledger in t.TempDir, a scripted
// authoriser, a recording beeper and a settable clock.
type laneKit struct {
	t      *testing.T
	lane   *terminal.Lane
	ledger *offline.Ledger
	path   string
	auth   *fakeAuth
	mu     sync.Mutex
	now    time.Time
	beeps  []terminal.Feedback
	events []terminal.LaneEvent
}

var terminalKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// mustOpenLedger opens a fresh ledger for terminal T1 of merchant M1 and
// checks its chain when the test ends.
func mustOpenLedger(tb testing.TB, path string) *offline.Ledger {
	tb.Helper()
	l, err := offline.Open(path, offline.Options{TerminalID: "T1", MerchantID: "M1", Key: terminalKey})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

type fakeAuth struct {
	mu       sync.Mutex
	err      error
	block    bool // wait for the context (a server that does not answer)
	claims   []terminal.VoucherID
	releases []terminal.VoucherID
}

func (a *fakeAuth) Claim(ctx context.Context, id terminal.VoucherID, code string) error {
	a.mu.Lock()
	a.claims = append(a.claims, id)
	err, block := a.err, a.block
	a.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (a *fakeAuth) Release(ctx context.Context, id terminal.VoucherID) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releases = append(a.releases, id)
	return nil
}

func (k *laneKit) Beep(ctx context.Context, f terminal.Feedback) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.beeps = append(k.beeps, f)
	return nil
}

func (k *laneKit) clock() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.now
}

func (k *laneKit) advance(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.now = k.now.Add(d)
}

func (k *laneKit) lastBeep() terminal.Feedback {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.beeps) == 0 {
		return 0
	}
	return k.beeps[len(k.beeps)-1]
}

// state is a synced server state: merchant M1 (retail), the test issuer
// key, default parameters, last sync an hour before noon.
func state() terminal.ServerState {
	return terminal.ServerState{
		Merchant:   *merchant(terminal.Retail),
		IssuerKeys: []terminal.IssuerKey{{ID: terminal.KeyIDOf(testPub), Public: testPub}},
		ServerTime: noon.Add(-time.Hour), LocalTime: noon.Add(-time.Hour),
	}
}

func newLaneKit(t *testing.T, auth *fakeAuth, synced bool) *laneKit {
	t.Helper()
	k := &laneKit{t: t, now: noon, auth: auth, path: filepath.Join(t.TempDir(), "ledger.db")}
	k.ledger = mustOpenLedger(t, k.path)
	t.Cleanup(func() {
		if _, err := k.ledger.Verify(context.Background()); err != nil {
			t.Errorf("ledger chain: %v", err)
		}
		k.ledger.Close()
	})
	cfg := terminal.LaneConfig{TerminalID: "T1", MerchantID: "M1", Ledger: k.ledger, Sync: k.ledger,
		Beeper: k, Now: k.clock, ClaimTimeout: 20 * time.Millisecond,
		OnEvent: func(ev terminal.LaneEvent) { k.events = append(k.events, ev) }}
	if auth != nil {
		cfg.Auth, cfg.Holds = auth, k.ledger
	}
	k.lane = terminal.NewLane(cfg)
	s := state()
	if !synced {
		s.ServerTime, s.LocalTime = time.Time{}, time.Time{}
	} else if err := k.ledger.SaveState(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	k.lane.SetState(s)
	return k
}

func (k *laneKit) open(items ...terminal.Item) terminal.Checkout {
	k.t.Helper()
	co, err := k.lane.Open(context.Background(), items)
	if err != nil {
		k.t.Fatal(err)
	}
	return co
}

func (k *laneKit) scan(code string) terminal.LaneEvent {
	return k.lane.Scan(context.Background(), terminal.Scan{Code: code, At: k.clock(), Source: "test"})
}

// laneVoucher is a retail 200−40 voucher with its own id and holder.
func laneVoucher(id uint64, holder uint64) terminal.Voucher {
	v := voucher(terminal.Retail, 20000, 4000)
	v.ID, v.Holder = terminal.VoucherID(id), terminal.HolderID(holder)
	return v
}

func TestLane_Open(t *testing.T) {
	k := newLaneKit(t, nil, true)
	co := k.open(item("rice", 2, 10000))
	if co.Status != terminal.StatusOpen || co.TotalFen != 20000 || co.PayableFen != 20000 {
		t.Fatalf("got %+v", co)
	}
	if _, err := k.lane.Open(context.Background(), []terminal.Item{item("x", 1, 1)}); !errors.Is(err, terminal.ErrCheckoutOpen) {
		t.Fatalf("second open: got %v, want ErrCheckoutOpen", err)
	}
	if _, err := k.lane.Checkout("nope"); !errors.Is(err, terminal.ErrNotFound) {
		t.Fatalf("unknown checkout: got %v", err)
	}
	if _, err := k.lane.Cancel(context.Background(), co.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := k.lane.Open(context.Background(), []terminal.Item{{SKU: "x", Qty: -1, UnitPriceFen: 1}}); err == nil {
		t.Fatal("negative quantity opened")
	}
}

func TestLane_Scan(t *testing.T) {
	code := mustEncode(t, laneVoucher(1, 1))
	tests := []struct {
		name       string
		auth       *fakeAuth
		synced     bool
		items      []terminal.Item
		noCheckout bool
		want       terminal.Code // "" = approved
		wantOnline bool
	}{
		{name: "OKOnline", auth: &fakeAuth{}, synced: true, want: "", wantOnline: true},
		{name: "OKOfflineNoAuthoriser", synced: true},
		{name: "OKOfflineServerSilent", auth: &fakeAuth{block: true}, synced: true},
		{name: "OKOfflineServerDown", auth: &fakeAuth{err: errors.New("not connected")}, synced: true},
		{name: "ErrAlreadyRedeemedOnServer", auth: &fakeAuth{err: terminal.Errorf(terminal.AlreadyRedeemed, "server")}, synced: true, want: terminal.AlreadyRedeemed},
		{name: "ErrRevokedOnServer", auth: &fakeAuth{err: terminal.Errorf(terminal.Revoked, "server")}, synced: true, want: terminal.Revoked},
		{name: "ErrOfflineNeverSynced", auth: &fakeAuth{block: true}, synced: false, want: terminal.OfflineLimit},
		{name: "ErrBelowThreshold", auth: &fakeAuth{}, synced: true, items: []terminal.Item{item("rice", 1, 19999)}, want: terminal.BelowThreshold},
		{name: "ErrEmptyTransaction", synced: true, items: []terminal.Item{item("gift", 1, 0)}, want: terminal.EmptyTransaction},
		{name: "ErrNoOpenCheckout", synced: true, noCheckout: true, want: terminal.NoOpenCheckout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newLaneKit(t, tt.auth, tt.synced)
			items := tt.items
			if items == nil {
				items = []terminal.Item{item("rice", 2, 10000)}
			}
			if !tt.noCheckout {
				k.open(items...)
			}
			ev := k.scan(code)
			if tt.want == "" {
				if ev.Kind != terminal.EventApproved || ev.Online != tt.wantOnline {
					t.Fatalf("got %s online=%v decline %v, want approved online=%v", ev.Kind, ev.Online, ev.Decline, tt.wantOnline)
				}
				if ev.Checkout.DiscountFen != 4000 || ev.Checkout.PayableFen != 16000 || k.lastBeep() != terminal.GoodRead {
					t.Fatalf("got %+v, beep %v", ev.Checkout, k.lastBeep())
				}
				return
			}
			if ev.Kind != terminal.EventDeclined || ev.Decline == nil || ev.Decline.Code != tt.want {
				t.Fatalf("got %s %+v, want declined %s", ev.Kind, ev.Decline, tt.want)
			}
			if k.lastBeep() != terminal.BadRead {
				t.Fatalf("beep %v, want bad", k.lastBeep())
			}
			if !tt.noCheckout && (ev.Checkout.Status != terminal.StatusOpen || ev.Checkout.Decline == nil) {
				t.Fatalf("checkout after decline: %+v", ev.Checkout)
			}
		})
	}
}

func TestLane_OfflineLimit(t *testing.T) {
	k := newLaneKit(t, &fakeAuth{block: true}, true)
	s := state()
	s.Params.OfflineLimitFen = 7000 // room for one 40-yuan discount, not two
	k.lane.SetState(s)
	for i, want := range []terminal.EventKind{terminal.EventApproved, terminal.EventDeclined} {
		co := k.open(item("rice", 2, 10000))
		ev := k.scan(mustEncode(t, laneVoucher(uint64(10+i), uint64(10+i))))
		if ev.Kind != want {
			t.Fatalf("scan %d: got %s %v, want %s", i, ev.Kind, ev.Decline, want)
		}
		if want == terminal.EventDeclined && ev.Decline.Code != terminal.OfflineLimit {
			t.Fatalf("got %v, want offline_limit", ev.Decline)
		}
		if _, err := k.lane.Complete(context.Background(), co.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLane_CompleteIsDurable(t *testing.T) {
	k := newLaneKit(t, &fakeAuth{}, true)
	code := mustEncode(t, laneVoucher(2, 2))
	co := k.open(item("rice", 2, 10000), terminal.Item{SKU: "card", Category: terminal.StoredValueCard, Qty: 1, UnitPriceFen: 5000})
	if ev := k.scan(code); ev.Kind != terminal.EventApproved {
		t.Fatalf("scan: %s %v", ev.Kind, ev.Decline)
	}
	done, err := k.lane.Complete(context.Background(), co.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != terminal.StatusCompleted || done.RedemptionID == "" || done.PayableFen != 21000 {
		t.Fatalf("completed: %+v", done)
	}
	again, err := k.lane.Complete(context.Background(), co.ID)
	if err != nil || again.RedemptionID != done.RedemptionID {
		t.Fatalf("retried complete: %+v %v", again, err)
	}
	rec, err := k.ledger.Get(context.Background(), done.RedemptionID)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Online || rec.DiscountFen != 4000 || rec.Voucher.ID != 2 || rec.Code != code || rec.MerchantID != "M1" {
		t.Fatalf("record: %+v", rec)
	}
	if _, err := k.lane.Cancel(context.Background(), co.ID); !errors.Is(err, terminal.ErrCheckoutState) {
		t.Fatalf("cancel completed: %v", err)
	}
	// The voucher is spent: another checkout declines it, even with the server agreeing.
	k.open(item("rice", 3, 10000))
	if ev := k.scan(code); ev.Decline == nil || ev.Decline.Code != terminal.AlreadyRedeemed {
		t.Fatalf("rescan: %s %v", ev.Kind, ev.Decline)
	}
}

func TestLane_OneVoucherPerTransaction(t *testing.T) {
	k := newLaneKit(t, nil, true)
	k.open(item("rice", 5, 10000))
	if ev := k.scan(mustEncode(t, laneVoucher(3, 3))); ev.Kind != terminal.EventApproved {
		t.Fatal(ev.Decline)
	}
	ev := k.scan(mustEncode(t, laneVoucher(4, 4)))
	if ev.Decline == nil || ev.Decline.Code != terminal.OneVoucherPerTransaction {
		t.Fatalf("second voucher: %s %v", ev.Kind, ev.Decline)
	}
	if ev.Checkout.Voucher == nil || ev.Checkout.Voucher.ID != 3 || ev.Checkout.DiscountFen != 4000 {
		t.Fatalf("first voucher lost: %+v", ev.Checkout)
	}
}

func TestLane_CancelReleasesClaim(t *testing.T) {
	auth := &fakeAuth{}
	k := newLaneKit(t, auth, true)
	co := k.open(item("rice", 2, 10000))
	k.scan(mustEncode(t, laneVoucher(5, 5)))
	got, err := k.lane.Cancel(context.Background(), co.ID)
	if err != nil || got.Status != terminal.StatusCancelled || got.Voucher != nil {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	if len(auth.releases) != 1 || auth.releases[0] != 5 {
		t.Fatalf("releases %v, want [5]", auth.releases)
	}
	if _, ok := k.lane.Current(); ok {
		t.Fatal("checkout still open after cancel")
	}
	// Nothing was committed: the voucher can be used again.
	k.open(item("rice", 2, 10000))
	if ev := k.scan(mustEncode(t, laneVoucher(5, 5))); ev.Kind != terminal.EventApproved {
		t.Fatalf("after cancel: %v", ev.Decline)
	}
}

func TestLane_Refund(t *testing.T) {
	ctx := context.Background()
	k := newLaneKit(t, nil, true)
	redeem := func(id uint64, items ...terminal.Item) string {
		t.Helper()
		co := k.open(items...)
		if ev := k.scan(mustEncode(t, laneVoucher(id, id))); ev.Kind != terminal.EventApproved {
			t.Fatalf("voucher %d: %v", id, ev.Decline)
		}
		done, err := k.lane.Complete(ctx, co.ID)
		if err != nil {
			t.Fatal(err)
		}
		return done.RedemptionID
	}
	t.Run("FullReturnsVoucher", func(t *testing.T) {
		rid := redeem(6, item("rice", 2, 10000))
		rec, err := k.lane.Refund(ctx, rid, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.VoucherReturned || rec.RefundFen != 16000 || rec.RefundOf != rid {
			t.Fatalf("refund: %+v", rec)
		}
		if k.ledger.Redeemed(6) {
			t.Fatal("returned voucher still redeemed")
		}
		if _, err := k.lane.Refund(ctx, rid, nil); !errors.Is(err, terminal.ErrRefund) {
			t.Fatalf("second refund: %v", err)
		}
		k.advance(31 * time.Minute) // past the split-bill window for this holder
		redeem(6, item("rice", 2, 10000))
	})
	t.Run("PartialKeepsVoucher", func(t *testing.T) {
		rid := redeem(7, item("rice", 2, 10000), item("oil", 1, 5000))
		rec, err := k.lane.Refund(ctx, rid, []terminal.Item{{SKU: "oil", Qty: 1}})
		if err != nil {
			t.Fatal(err)
		}
		// oil is 5000 of 25000 eligible: its share of the 4000 discount is 800.
		if rec.VoucherReturned || rec.VoucherShareFen != 800 || rec.RefundFen != 4200 {
			t.Fatalf("refund: %+v", rec)
		}
		if !k.ledger.Redeemed(7) {
			t.Fatal("partial refund released the voucher")
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := k.lane.Refund(ctx, "T1-0000009999", nil); !errors.Is(err, terminal.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrRefundUnknownSKU", func(t *testing.T) {
		rid := redeem(8, item("rice", 2, 10000))
		if _, err := k.lane.Refund(ctx, rid, []terminal.Item{{SKU: "tea", Qty: 1}}); !errors.Is(err, terminal.ErrRefund) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestLane_Concurrent(t *testing.T) {
	k := newLaneKit(t, &fakeAuth{}, true)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				co, err := k.lane.Open(ctx, []terminal.Item{item("rice", 2, 10000)})
				if err == nil {
					k.lane.Scan(ctx, terminal.Scan{Code: mustEncode(t, laneVoucher(uint64(100+g*10+i), uint64(100+g*10+i)))})
					if i%2 == 0 {
						_, _ = k.lane.Complete(ctx, co.ID)
					} else {
						_, _ = k.lane.Cancel(ctx, co.ID)
					}
				}
				k.lane.Current()
				_, _ = k.lane.SyncState(ctx)
			}
		}()
	}
	wg.Wait()
	if co, ok := k.lane.Current(); ok {
		if _, err := k.lane.Cancel(ctx, co.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLane_CompleteCommitFails: when the ledger cannot commit, Complete
// fails, nothing is published as completed and the checkout can be retried.
func TestLane_CompleteCommitFails(t *testing.T) {
	k := newLaneKit(t, nil, true)
	co := k.open(item("rice", 2, 10000))
	if ev := k.scan(mustEncode(t, laneVoucher(9, 9))); ev.Kind != terminal.EventApproved {
		t.Fatal(ev.Decline)
	}
	if err := k.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := k.lane.Complete(context.Background(), co.ID)
	if !errors.Is(err, offline.ErrClosed) || got.Status != terminal.StatusVoucherApplied || got.RedemptionID != "" {
		t.Fatalf("complete on a closed ledger: %+v, %v", got, err)
	}
	if cur, ok := k.lane.Current(); !ok || cur.ID != co.ID {
		t.Fatal("the checkout is no longer open")
	}
	for _, ev := range k.events {
		if ev.Kind == terminal.EventCompleted {
			t.Fatal("completed event without a commit")
		}
	}
	k.ledger = mustOpenLedger(t, k.path) // for the cleanup's chain check
}

// TestLane_Holds: an online claim of an open checkout is kept durably
// until the sale is committed (its record replaces it) or cancelled (the
// claim is released), so an agent that stops mid-sale finds the claims of
// the checkouts it lost when it starts again.
func TestLane_Holds(t *testing.T) {
	ctx := context.Background()
	auth := &fakeAuth{}
	k := newLaneKit(t, auth, true)
	holds := func() []offline.Hold {
		t.Helper()
		h, err := k.ledger.Holds(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	co := k.open(item("rice", 2, 10000))
	if ev := k.scan(mustEncode(t, laneVoucher(31, 31))); ev.Kind != terminal.EventApproved || !ev.Online {
		t.Fatalf("scan: %s online=%v %v", ev.Kind, ev.Online, ev.Decline)
	}
	if h := holds(); len(h) != 1 || h[0].Checkout != co.ID || h[0].Voucher != 31 {
		t.Fatalf("holds after an online approval: %+v", h)
	}
	if _, err := k.lane.Complete(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	if h := holds(); len(h) != 0 {
		t.Fatalf("holds after the sale committed: %+v", h)
	}
	co = k.open(item("rice", 2, 10000))
	k.advance(time.Hour) // past the split-bill window
	k.scan(mustEncode(t, laneVoucher(32, 32)))
	if _, err := k.lane.Cancel(ctx, co.ID); err != nil {
		t.Fatal(err)
	}
	if h := holds(); len(h) != 0 || len(auth.releases) != 1 {
		t.Fatalf("after a cancel: holds %+v, releases %v", h, auth.releases)
	}
	// The agent stops in the middle of a sale: the claim is found at restart.
	co = k.open(item("rice", 2, 10000))
	k.scan(mustEncode(t, laneVoucher(33, 33)))
	if err := k.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	k.ledger = mustOpenLedger(t, k.path)
	if h := holds(); len(h) != 1 || h[0].Checkout != co.ID || h[0].Voucher != 33 {
		t.Fatalf("holds after a restart: %+v", h)
	}
}
