package stack_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent/stack"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// testClock runs at real speed from noon today and can jump forward.
type testClock struct {
	mu    gosync.Mutex
	base  time.Time
	start time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(time.Since(c.start))
}

// TestStack_RogueTerminal: a merchant's terminal writes records straight
// into its own ledger, signed with its own key, never asking the lane, and
// syncs them over the real websocket in one batch with an honest sale. The
// server decides each again with the till's rules: the honest sale is
// accepted, every other record is a conflict with its code, none counts
// as subsidy, and the conflicts show in the county's report (the admin API
// `voucherd report -server` reads) and on the merchant's own screen.
func TestStack_RogueTerminal(t *testing.T) {
	clk := &testClock{base: terminal.Day(time.Now()).Add(12 * time.Hour), start: time.Now()}
	s, err := stack.Start(context.Background(), stack.Options{Dir: t.TempDir(), Terminals: []string{"T1", "T2"},
		Now: clk.Now, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t1 := s.Terminals[0]
	led := t1.Agent.Ledger()
	today, _ := terminal.ClaimDay(clk.Now())
	from, until := terminal.ClaimDay(clk.Now())
	holder := terminal.HolderID(0x100)
	mint := func(req hub.MintRequest) (string, terminal.Voucher) {
		t.Helper()
		if req.From.IsZero() {
			req.From, req.Until = from, until
		}
		if req.Holder == 0 {
			holder++
			req.Holder = holder
		}
		codes, err := s.Hub.Mint(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := terminal.ParseCode(codes[0])
		return codes[0], v
	}
	retail := hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40)}
	grocery := func(price terminal.Fen) []terminal.Item {
		return []terminal.Item{{SKU: "rice", Name: "大米", Category: "grocery", Qty: 1, UnitPriceFen: price}}
	}
	// sale is what an honest till would record for code on items.
	sale := func(code string, v terminal.Voucher, items []terminal.Item) *terminal.Redemption {
		r := &terminal.Redemption{Kind: terminal.KindRedemption, TerminalID: "T1", MerchantID: "M1", At: clk.Now(),
			Code: code, Voucher: v, Items: items}
		for _, it := range items {
			r.TotalFen += it.UnitPriceFen * terminal.Fen(it.Qty)
			if it.Eligible() {
				r.EligibleFen += it.UnitPriceFen * terminal.Fen(it.Qty)
			}
		}
		r.DiscountFen = min(v.OffFen, r.TotalFen-1)
		r.PayableFen = r.TotalFen - r.DiscountFen
		return r
	}
	_, stranger, _ := ed25519.GenerateKey(nil)

	t1.Net.Down()
	if err := t1.WaitOffline(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	hcode, hv := mint(retail)
	honest := sale(hcode, hv, grocery(terminal.Yuan(250)))
	type rogue struct {
		name string
		want terminal.Code
		rec  *terminal.Redemption
	}
	var rogues []rogue
	add := func(name string, want terminal.Code, rec *terminal.Redemption) {
		rogues = append(rogues, rogue{name, want, rec})
	}
	// Built in the order they are committed; each a little later than the last.
	{
		c, v := mint(hub.MintRequest{Category: retail.Category, SpendFen: retail.SpendFen, OffFen: retail.OffFen,
			From: today.AddDate(0, 0, -1), Until: today.Add(-10 * time.Hour)})
		add("expired yesterday", terminal.Expired, sale(c, v, grocery(terminal.Yuan(250))))
	}
	{
		f, u := terminal.ClaimDay(clk.Now().AddDate(0, 0, 1))
		c, v := mint(hub.MintRequest{Category: retail.Category, SpendFen: retail.SpendFen, OffFen: retail.OffFen, From: f, Until: u})
		add("valid tomorrow", terminal.NotYetValid, sale(c, v, grocery(terminal.Yuan(250))))
	}
	{
		c, v := mint(hub.MintRequest{Category: terminal.Fuel, SpendFen: terminal.Yuan(100), OffFen: terminal.Yuan(20)})
		add("fuel voucher at a retail shop", terminal.CategoryMismatch, sale(c, v, grocery(terminal.Yuan(150))))
	}
	{
		c, v := mint(hub.MintRequest{Category: terminal.Appliance, SpendFen: terminal.Yuan(10000), OffFen: terminal.Yuan(1000)})
		add("¥1,000 appliance voucher at a retail shop", terminal.CategoryMismatch, sale(c, v, grocery(terminal.Yuan(12000))))
	}
	{
		req := retail
		req.Region = 140522
		c, v := mint(req)
		add("voucher of another county", terminal.RegionMismatch, sale(c, v, grocery(terminal.Yuan(250))))
	}
	{
		c, v := mint(retail)
		if err := s.Hub.Revoke(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		add("revoked voucher", terminal.Revoked, sale(c, v, grocery(terminal.Yuan(250))))
	}
	{
		// T2 redeemed it honestly a moment ago and synced.
		c, v := mint(retail)
		other := sale(c, v, grocery(terminal.Yuan(250)))
		other.TerminalID = "T2"
		if err := s.Terminals[1].Agent.Ledger().Commit(ctx, other); err != nil {
			t.Fatal(err)
		}
		if err := s.Terminals[1].WaitSynced(ctx, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		add("a voucher redeemed at the next till", terminal.AlreadyRedeemed, sale(c, v, grocery(terminal.Yuan(300))))
	}
	{
		c, v := mint(retail)
		r := sale(c, v, grocery(terminal.Yuan(150)))
		r.TotalFen, r.EligibleFen, r.PayableFen = terminal.Yuan(200), terminal.Yuan(200), terminal.Yuan(160)
		add("basket below the minimum spend, totals inflated", terminal.BelowThreshold, r)
	}
	{
		c, v := mint(retail)
		card := []terminal.Item{{SKU: "card", Name: "储值卡", Category: terminal.StoredValueCard, Qty: 1, UnitPriceFen: terminal.Yuan(500)}}
		add("stored-value card top-up", terminal.EmptyTransaction, sale(c, v, card))
	}
	{
		req := retail
		req.Holder = hv.Holder
		c, v := mint(req)
		add("same customer again minutes later (split bill)", terminal.SplitBill, sale(c, v, grocery(terminal.Yuan(250))))
	}
	{
		c, v := mint(retail)
		// One character of the signature changed, so that the code still
		// parses (the base45 stays canonical) and only the signature fails.
		forged := ""
		for i := len(c) - 2; i > len(c)-40 && forged == ""; i-- {
			for _, ch := range "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
				b := []byte(c)
				if b[i] == byte(ch) {
					continue
				}
				b[i] = byte(ch)
				if _, err := terminal.ParseCode(string(b)); err == nil {
					forged = string(b)
					break
				}
			}
		}
		if forged == "" {
			t.Fatal("no forgery of the code parses")
		}
		add("forged signature", terminal.BadSignature, sale(forged, v, grocery(terminal.Yuan(250))))
	}
	{
		_, v := mint(retail)
		v.ID++
		c, err := terminal.Encode(v, stranger)
		if err != nil {
			t.Fatal(err)
		}
		add("voucher of an unknown issuer", terminal.UnknownKey, sale(c, v, grocery(terminal.Yuan(250))))
	}
	{
		_, v := mint(retail)
		add("code that is no voucher", terminal.Malformed, sale("VC1:NOT-A-VOUCHER", v, grocery(terminal.Yuan(250))))
	}
	{
		c, v := mint(retail)
		r := sale(c, v, grocery(terminal.Yuan(250)))
		r.DiscountFen, r.PayableFen = r.TotalFen-1, 1
		add("discount inflated to the whole bill", terminal.AmountMismatch, r)
	}
	{
		c, v := mint(hub.MintRequest{Category: terminal.Love, OffFen: terminal.Yuan(1000)})
		add("¥1,000 love voucher over the offline cap", terminal.OfflineLimit, sale(c, v, grocery(terminal.Yuan(1200))))
	}
	{
		c, v := mint(retail)
		r := sale(c, v, grocery(terminal.Yuan(250)))
		r.At = clk.Now().Add(30 * 24 * time.Hour)
		add("dated next month", terminal.FutureDated, r)
	}
	{
		c, v := mint(retail)
		r := sale(c, v, grocery(terminal.Yuan(250)))
		r.At = clk.Now().Add(-2 * time.Hour)
		add("dated two hours back", terminal.Backdated, r)
	}
	refund := &terminal.Redemption{Kind: terminal.KindRefund, TerminalID: "T1", MerchantID: "M1", Code: hcode, Voucher: hv,
		Items: grocery(terminal.Yuan(250)), TotalFen: terminal.Yuan(250), RefundOf: terminal.RecordID("T1", 0),
		RefundFen: terminal.Yuan(250), VoucherReturned: true} // the whole price back, the subsidy with it
	add("refund paying the subsidy out in cash", terminal.RefundMismatch, refund)

	// The offline cap of one redemption is ¥500 from now on (pushed when T1 is back).
	if err := s.Hub.SetParams(ctx, terminal.Params{OfflineMaxDiscountFen: terminal.Yuan(500)}); err != nil {
		t.Fatal(err)
	}
	commit := func(r *terminal.Redemption) {
		t.Helper()
		if r.At.IsZero() || (r.Kind == terminal.KindRefund) {
			r.At = clk.Now()
		}
		if err := led.Commit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	honest.At = clk.Now()
	commit(honest)
	refund.RefundOf = honest.ID
	for _, r := range rogues {
		if r.want != terminal.FutureDated && r.want != terminal.Backdated {
			r.rec.At = clk.Now()
		}
		commit(r.rec)
	}
	// Blocked: the county blocks the merchant; the terminal, offline, does not know and goes on.
	time.Sleep(10 * time.Millisecond)
	if err := s.Hub.Block(ctx, "M1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	{
		c, v := mint(retail)
		r := sale(c, v, grocery(terminal.Yuan(250)))
		commit(r)
		rogues = append(rogues, rogue{"sale after the merchant was blocked", terminal.MerchantBlocked, r})
	}
	t1.Net.Up()
	if err := t1.WaitSynced(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	// The server: each rogue record a conflict with its code; the honest one accepted.
	conflicts, err := s.Hub.Conflicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byRecord := map[string]hub.Conflict{}
	for _, c := range conflicts {
		byRecord[c.RecordID] = c
	}
	if _, ok := byRecord[honest.ID]; ok {
		t.Errorf("the honest sale %s is a conflict: %+v", honest.ID, byRecord[honest.ID])
	}
	for _, r := range rogues {
		c, ok := byRecord[r.rec.ID]
		switch {
		case !ok:
			t.Errorf("%s (%s): not a conflict", r.name, r.rec.ID)
		case c.Code != r.want:
			t.Errorf("%s (%s): code %s (%s), want %s", r.name, r.rec.ID, c.Code, c.Reason, r.want)
		case !strings.Contains(c.Reason, string(r.want)) || !strings.ContainsFunc(c.Reason, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }):
			t.Errorf("%s: reason %q lacks the code or the Chinese", r.name, c.Reason)
		}
	}
	// The county's report, as `voucherd report -server URL` reads it: two
	// redemptions counted (T1's honest sale and T2's), ¥80 of subsidy, every
	// rogue record apart, on the day it claims.
	remote := &hub.Remote{URL: s.HubURL}
	rep, err := remote.Report(ctx, clk.Now(), "M1")
	if err != nil {
		t.Fatal(err)
	}
	later, err := remote.Report(ctx, clk.Now().Add(30*24*time.Hour), "M1")
	if err != nil {
		t.Fatal(err)
	}
	apart := rep.Total.Conflicts.Redemptions + rep.Total.Conflicts.Refunds + rep.Total.RuleBreaks.Redemptions + rep.Total.RuleBreaks.Refunds
	apart += later.Total.Conflicts.Redemptions + later.Total.RuleBreaks.Redemptions
	if rep.Total.Redemptions != 2 || rep.Total.SubsidyFen != terminal.Yuan(80) || later.Total.SubsidyFen != 0 || apart != len(rogues) {
		t.Errorf("county report: %d redemptions, subsidy %s (+%s next month), %d apart; want 2, ¥80.00 (+0), %d",
			rep.Total.Redemptions, rep.Total.SubsidyFen, later.Total.SubsidyFen, apart, len(rogues))
	}
	if n := len(rep.Conflicts) + len(later.Conflicts); n != len(rogues) {
		t.Errorf("county report lists %d conflicts, want %d", n, len(rogues))
	}
	// The merchant's screen (the agent's API): every rogue record marked
	// conflict with its code, the honest one accepted, only its ¥40 counted.
	resp, err := http.Get(t1.Agent.URL() + "/api/v1/redemptions?day=" + terminal.Day(clk.Now()).Format(time.DateOnly))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var day struct {
		Records []struct {
			ID         string `json:"id"`
			Sync       string `json:"sync"`
			SyncDetail string `json:"sync_detail"`
		} `json:"redemptions"`
		Totals terminal.Account `json:"totals"`
	}
	if err := json.Unmarshal(b, &day); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	rows := map[string]string{}
	for _, r := range day.Records {
		rows[r.ID] = r.Sync + " " + r.SyncDetail
	}
	if got := rows[honest.ID]; !strings.HasPrefix(got, "accepted") {
		t.Errorf("merchant's screen: honest sale %q", got)
	}
	for _, r := range rogues {
		if r.want == terminal.FutureDated {
			continue // on the screen of the day it claims
		}
		if got := rows[r.rec.ID]; !strings.HasPrefix(got, "conflict") || !strings.Contains(got, string(r.want)) {
			t.Errorf("merchant's screen: %s shows %q, want a conflict %s", r.name, got, r.want)
		}
	}
	if day.Totals.SubsidyFen != terminal.Yuan(40) || day.Totals.Redemptions != 1 {
		t.Errorf("merchant's screen counts %d redemptions, subsidy %s; want 1, ¥40.00", day.Totals.Redemptions, day.Totals.SubsidyFen)
	}
}
