package hub_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// send seals recs after prev on r's chain, sends them and returns the ack.
func (r *rawTerminal) send(prev [32]byte, from uint64, recs ...*terminal.Redemption) (*wire.Message, [32]byte) {
	r.t.Helper()
	var bodies []string
	for i, rec := range recs {
		rec.Seq = from + uint64(i)
		rec.ID = terminal.RecordID(r.cred.TerminalID, rec.Seq)
		rec.TerminalID, rec.MerchantID = r.cred.TerminalID, r.cred.MerchantID
		b, err := json.Marshal(rec)
		if err != nil {
			r.t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	sealed := r.seal(prev, from, bodies...)
	b, err := wire.AppendBatch(nil, sealed)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		r.t.Fatal(err)
	}
	return r.read(), sealed[len(sealed)-1].Hash
}

// testHub is a hub serving on a test server, with merchant M1 (retail,
// Qinshui), its terminals and vouchers.
type testHub struct {
	h     *hub.Hub
	dir   string
	srv   *httptest.Server
	creds []wire.Credential
	codes []string
}

// hubWithTerminals opens a hub (with opts) serving on a test server with
// merchant M1 and its terminals, and mints n vouchers of spend/off valid on
// the test day.
func hubWithTerminals(t *testing.T, opts hub.Options, spend, off terminal.Fen, n int, terms ...string) testHub {
	t.Helper()
	h, dir := MustOpen(t, opts)
	return withTerminals(t, h, dir, spend, off, n, terms...)
}

// withTerminals serves h (its ledger in dir, if embedded) on a test server
// with merchant M1, its terminals and n vouchers, as hubWithTerminals.
func withTerminals(t *testing.T, h *hub.Hub, dir string, spend, off terminal.Fen, n int, terms ...string) testHub {
	t.Helper()
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if err := h.AddMerchant(ctx, terminal.Merchant{ID: "M1", Name: "x", Category: terminal.Retail, Region: 140521}); err != nil {
		t.Fatal(err)
	}
	var creds []wire.Credential
	for _, id := range terms {
		c, err := h.AddTerminal(ctx, "M1", id)
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, c)
	}
	from, until := terminal.ClaimDay(day)
	var codes []string
	for i := range n { // one holder each: no split bill between them
		c, err := h.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: spend, OffFen: off, Holder: terminal.HolderID(7 + i), From: from, Until: until})
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, c...)
	}
	return testHub{h: h, dir: dir, srv: srv, creds: creds, codes: codes}
}

// A terminal cannot hand back a voucher redeemed on another terminal: a
// refund record naming another terminal's sale is kept, but the voucher
// stays redeemed, so a second redemption of it is still a conflict.
func TestHub_RefundOfAnotherTerminalsSale(t *testing.T) {
	th := hubWithTerminals(t, hub.Options{}, terminal.Yuan(50), terminal.Yuan(10), 1, "T1", "T2")
	srv, codes, c1, c2 := th.srv, th.codes, th.creds[0], th.creds[1]
	v, _ := terminal.ParseCode(codes[0])
	sale := func() *terminal.Redemption {
		return &terminal.Redemption{Kind: terminal.KindRedemption, At: noon, Code: codes[0], Voucher: v,
			Items: []terminal.Item{{SKU: "a", Qty: 1, UnitPriceFen: 6000}}, TotalFen: 6000, EligibleFen: 6000, DiscountFen: 1000, PayableFen: 5000}
	}
	t1, _ := dialRaw(t, srv, c1)
	t2, _ := dialRaw(t, srv, c2)
	if ack, _ := t1.send([32]byte{}, 1, sale()); ack.Outcomes[0].Result != terminal.Accepted {
		t.Fatalf("T1's sale: %+v", ack)
	}
	forged := &terminal.Redemption{Kind: terminal.KindRefund, At: noon, Code: codes[0], Voucher: v,
		Items: []terminal.Item{{SKU: "a", Qty: 1, UnitPriceFen: 6000}}, TotalFen: 6000,
		RefundOf: terminal.RecordID("T1", 1), RefundFen: 5000, VoucherShareFen: 1000, VoucherReturned: true}
	ack, head := t2.send([32]byte{}, 1, forged)
	if o := ack.Outcomes[0]; o.Result != terminal.Conflict || o.Code != terminal.RefundMismatch {
		t.Fatalf("T2's refund of T1's sale: %+v, want kept as a refund_mismatch conflict", ack)
	}
	if ack, _ := t2.send(head, 2, sale()); ack.Outcomes[0].Result != terminal.Conflict {
		t.Fatalf("T2 redeems the voucher again: %+v, want conflict", ack)
	}
}

// A redemption whose amounts break the rules (a faulty or tampered
// terminal) is kept for the auditors but does not take the voucher.
func TestHub_RecordBreakingTheRules(t *testing.T) {
	th := hubWithTerminals(t, hub.Options{}, terminal.Yuan(200), terminal.Yuan(40), 5, "T1")
	h, srv, creds, codes := th.h, th.srv, th.creds, th.codes
	ctx := context.Background()
	rec := func(i int, eligible, discount, payable terminal.Fen) *terminal.Redemption {
		v, _ := terminal.ParseCode(codes[i])
		return &terminal.Redemption{Kind: terminal.KindRedemption, At: noon, Code: codes[i], Voucher: v,
			Items:    []terminal.Item{{SKU: "a", Qty: 1, UnitPriceFen: eligible}},
			TotalFen: eligible, EligibleFen: eligible, DiscountFen: discount, PayableFen: payable}
	}
	r, _ := dialRaw(t, srv, creds[0])
	ack, _ := r.send([32]byte{}, 1,
		rec(0, 20000, 4000, 16000), // good
		rec(1, 19999, 4000, 15999), // below the minimum spend
		rec(2, 30000, 3000, 27000), // a smaller discount than the voucher's
		rec(3, 30000, 4000, 25000), // payable does not add up
		rec(4, 30000, 4000, 26000), // good
	)
	want := []terminal.Result{terminal.Accepted, terminal.Conflict, terminal.Conflict, terminal.Conflict, terminal.Accepted}
	for i, o := range ack.Outcomes {
		if o.Result != want[i] {
			t.Errorf("record %d: %s %q, want %s", i+1, o.Result, o.Detail, want[i])
		}
	}
	rep, err := h.Report(ctx, day, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Redemptions != 2 || rep.Total.RuleBreaks.Redemptions != 3 || rep.Total.SubsidyFen != terminal.Yuan(80) {
		t.Errorf("report %+v, want 2 accepted (¥80.00) and 3 rule breaks", rep.Total)
	}
}

// Conflicts lists the conflict entries the committer stored, oldest first.
func TestHub_Conflicts(t *testing.T) {
	th := hubWithTerminals(t, hub.Options{}, terminal.Yuan(200), terminal.Yuan(40), 1, "T1")
	v, _ := terminal.ParseCode(th.codes[0])
	sale := func() *terminal.Redemption {
		return &terminal.Redemption{Kind: terminal.KindRedemption, At: noon, Code: th.codes[0], Voucher: v,
			Items:    []terminal.Item{{SKU: "a", Qty: 1, UnitPriceFen: 26000}},
			TotalFen: 26000, EligibleFen: 26000, DiscountFen: 4000, PayableFen: 22000}
	}
	r, _ := dialRaw(t, th.srv, th.creds[0])
	r.send([32]byte{}, 1, sale(), sale(), sale())
	got, err := th.h.Conflicts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].RecordID != terminal.RecordID("T1", 2) || got[1].RecordID != terminal.RecordID("T1", 3) ||
		got[0].Against != terminal.RecordID("T1", 1) {
		t.Errorf("conflicts %+v, want T1's records 2 and 3 against record 1", got)
	}
}

// A code signed with the hub's own key but not the one it minted for the
// voucher is kept as a conflict: the committer compares a record's code
// with the minted one (read ahead by the connection's reader), and a
// good signature does not make up for a difference.
func TestHub_CodeOtherThanMinted(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(dir, boltstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InitKeys(ctx, priv); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := boltstore.OpenHub(dir, hub.Options{Logf: t.Logf, Now: func() time.Time { return noon }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	if err := h.AddMerchant(ctx, terminal.Merchant{ID: "M1", Name: "x", Category: terminal.Retail, Region: 140521}); err != nil {
		t.Fatal(err)
	}
	cred, err := h.AddTerminal(ctx, "M1", "T1")
	if err != nil {
		t.Fatal(err)
	}
	from, until := terminal.ClaimDay(day)
	codes, err := h.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40), Holder: 7, From: from, Until: until, N: 2, EachHolder: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(code string) *terminal.Redemption {
		v, err := terminal.ParseCode(code)
		if err != nil {
			t.Fatal(err)
		}
		return &terminal.Redemption{Kind: terminal.KindRedemption, At: noon, Code: code, Voucher: v,
			Items:    []terminal.Item{{SKU: "a", Qty: 1, UnitPriceFen: 30000}},
			TotalFen: 30000, EligibleFen: 30000, DiscountFen: v.OffFen, PayableFen: 30000 - v.OffFen}
	}
	// The second voucher again, signed by the same key, worth ¥80 off.
	v, err := terminal.ParseCode(codes[1])
	if err != nil {
		t.Fatal(err)
	}
	v.OffFen = terminal.Yuan(80)
	other, err := terminal.Encode(v, priv)
	if err != nil {
		t.Fatal(err)
	}
	if other == codes[1] {
		t.Fatal("the other code is the minted one")
	}
	r, _ := dialRaw(t, srv, cred)
	ack, _ := r.send([32]byte{}, 1, rec(codes[0]), rec(other))
	if o := ack.Outcomes[0]; o.Result != terminal.Accepted {
		t.Errorf("minted code: %+v, want accepted", o)
	}
	if o := ack.Outcomes[1]; o.Result != terminal.Conflict || o.Code != terminal.BadSignature || !strings.Contains(o.Detail, "differs from the one minted") {
		t.Errorf("other code: %+v, want a bad_signature conflict: differs from the one minted", o)
	}
}
