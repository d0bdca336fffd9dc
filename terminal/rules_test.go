package terminal_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// decide presents v's code at a merchant of v's category (love: retail) with
// a basket of one eligible line worth eligible.
func decide(t *testing.T, r *terminal.Rules, v terminal.Voucher, eligible terminal.Fen, now time.Time) terminal.Decision {
	t.Helper()
	mc := v.Category
	if mc == terminal.Love {
		mc = terminal.Retail
	}
	return r.Decide(&terminal.Request{Code: mustEncode(t, v), Merchant: merchant(mc),
		Checkout: mustCheckout(t, item("goods", 1, eligible)), Now: now})
}

func TestRules_EveryDenomination(t *testing.T) {
	p := terminal.Qinshui2022()
	for _, plan := range p.Categories {
		for _, d := range plan.Denominations {
			if plan.Code == terminal.Love {
				continue // no threshold; TestRules_Love
			}
			v := voucher(plan.Code, d.SpendFen, d.OffFen)
			for _, c := range []struct {
				name     string
				eligible terminal.Fen
				approve  bool
			}{
				{"threshold-1", d.SpendFen - 1, false},
				{"threshold", d.SpendFen, true},
				{"threshold+1", d.SpendFen + 1, true},
				{"double", 2 * d.SpendFen, true},
			} {
				t.Run(fmt.Sprintf("%s/%s/%s", plan.Code, d, c.name), func(t *testing.T) {
					got := decide(t, rules(t), v, c.eligible, noon)
					if got.Approved() != c.approve {
						t.Fatalf("approved=%v, want %v (%v)", got.Approved(), c.approve, got.Decline)
					}
					if !c.approve {
						if got.Decline.Code != terminal.BelowThreshold {
							t.Fatalf("code %s, want below_threshold", got.Decline.Code)
						}
						return
					}
					if got.DiscountFen != d.OffFen || got.PayableFen != c.eligible-d.OffFen || got.EligibleFen != c.eligible {
						t.Fatalf("discount %s payable %s eligible %s", got.DiscountFen, got.PayableFen, got.EligibleFen)
					}
				})
			}
		}
	}
}

func TestRules_Declines(t *testing.T) {
	valid := voucher(terminal.Retail, 20000, 4000)
	basket := []terminal.Item{item("rice", 2, 12000)}
	withV := func(f func(*terminal.Voucher)) string {
		v := valid
		f(&v)
		return mustEncode(t, v)
	}
	applied := mustCheckout(t, basket...)
	applied.Apply(&terminal.Decision{Voucher: valid, DiscountFen: 4000, PayableFen: 20000}, "x")

	cases := []struct {
		name  string
		want  terminal.Code
		setup func(r *terminal.Rules, req *terminal.Request)
	}{
		{"OK", "", func(*terminal.Rules, *terminal.Request) {}},
		{"Malformed", terminal.Malformed, func(_ *terminal.Rules, q *terminal.Request) { q.Code = "HELLO" }},
		{"MalformedDenomination", terminal.Malformed, func(_ *terminal.Rules, q *terminal.Request) {
			q.Code = withV(func(v *terminal.Voucher) { v.SpendFen, v.OffFen = 20000, 5000 })
		}},
		{"BadSignature", terminal.BadSignature, func(_ *terminal.Rules, q *terminal.Request) {
			c := []byte(q.Code)
			c[len(c)-5] ^= 'A' ^ 'B'
			if c[len(c)-5] == q.Code[len(c)-5] {
				c[len(c)-5] = '0'
			}
			q.Code = string(c)
		}},
		{"UnknownKey", terminal.UnknownKey, func(r *terminal.Rules, _ *terminal.Request) { r.Keys, _ = terminal.NewKeyring() }},
		{"NotYetValid", terminal.NotYetValid, func(_ *terminal.Rules, q *terminal.Request) { q.Now = day.Add(10*time.Hour - time.Second) }},
		{"ValidFromInclusive", "", func(_ *terminal.Rules, q *terminal.Request) { q.Now = day.Add(10 * time.Hour) }},
		{"LastSecond", "", func(_ *terminal.Rules, q *terminal.Request) { q.Now = day.Add(24*time.Hour - time.Second) }},
		{"Expired", terminal.Expired, func(_ *terminal.Rules, q *terminal.Request) { q.Now = day.Add(24 * time.Hour) }},
		{"ExpiredUTCView", terminal.Expired, func(_ *terminal.Rules, q *terminal.Request) {
			// 2022-10-01 16:30 UTC is 00:30 on 10-02 in the county.
			q.Now = time.Date(2022, 10, 1, 16, 30, 0, 0, time.UTC)
		}},
		{"Revoked", terminal.Revoked, func(r *terminal.Rules, _ *terminal.Request) {
			r.Revoked = terminal.RevocationSet{valid.ID: {}}
		}},
		{"AlreadyRedeemed", terminal.AlreadyRedeemed, func(r *terminal.Rules, _ *terminal.Request) {
			r.History.(*terminal.MemHistory).Add(terminal.Recent{VoucherID: valid.ID, Holder: 99, At: noon.Add(-2 * time.Hour)})
		}},
		{"BelowThreshold", terminal.BelowThreshold, func(_ *terminal.Rules, q *terminal.Request) {
			q.Checkout = mustCheckout(t, item("rice", 1, 19999))
		}},
		{"CategoryMismatch", terminal.CategoryMismatch, func(_ *terminal.Rules, q *terminal.Request) { q.Merchant = merchant(terminal.Fuel) }},
		{"RegionMismatch", terminal.RegionMismatch, func(_ *terminal.Rules, q *terminal.Request) {
			q.Code = withV(func(v *terminal.Voucher) { v.Region = 140522 })
		}},
		{"OneVoucherPerTransaction", terminal.OneVoucherPerTransaction, func(_ *terminal.Rules, q *terminal.Request) { q.Checkout = applied }},
		{"SplitBill", terminal.SplitBill, func(r *terminal.Rules, _ *terminal.Request) {
			r.History.(*terminal.MemHistory).Add(terminal.Recent{VoucherID: 7, Holder: valid.Holder, At: noon.Add(-29 * time.Minute)})
		}},
		{"SplitBillWindowOver", "", func(r *terminal.Rules, _ *terminal.Request) {
			r.History.(*terminal.MemHistory).Add(terminal.Recent{VoucherID: 7, Holder: valid.Holder, At: noon.Add(-30 * time.Minute)})
		}},
		{"SplitBillConfigured", terminal.SplitBill, func(r *terminal.Rules, _ *terminal.Request) {
			r.Params.SplitBillWindow = 2 * time.Hour
			r.History.(*terminal.MemHistory).Add(terminal.Recent{VoucherID: 7, Holder: valid.Holder, At: noon.Add(-90 * time.Minute)})
		}},
		{"EmptyTransaction", terminal.EmptyTransaction, func(_ *terminal.Rules, q *terminal.Request) { q.Checkout = rawCheckout() }},
		{"EmptyZeroPrice", terminal.EmptyTransaction, func(_ *terminal.Rules, q *terminal.Request) {
			q.Checkout = mustCheckout(t, item("rice", 1, 30000), item("gift", 1, 0))
		}},
		{"EmptyZeroQty", terminal.EmptyTransaction, func(_ *terminal.Rules, q *terminal.Request) {
			q.Checkout = rawCheckout(item("rice", 0, 30000)) // a record's lines, as the server reviews them
		}},
		{"StoredValueOnly", terminal.EmptyTransaction, func(_ *terminal.Rules, q *terminal.Request) {
			card := item("card", 1, 50000)
			card.Category = terminal.StoredValueCard
			q.Checkout = mustCheckout(t, card)
		}},
		{"StoredValueDoesNotCount", terminal.BelowThreshold, func(_ *terminal.Rules, q *terminal.Request) {
			card := item("card", 1, 50000)
			card.Category = terminal.PrepaidCard
			q.Checkout = mustCheckout(t, card, item("rice", 1, 10000))
		}},
		{"NoOpenCheckout", terminal.NoOpenCheckout, func(_ *terminal.Rules, q *terminal.Request) { q.Checkout = nil }},
		{"CancelledCheckout", terminal.NoOpenCheckout, func(_ *terminal.Rules, q *terminal.Request) {
			co := mustCheckout(t, basket...)
			_ = co.Cancel()
			q.Checkout = co
		}},
		{"MerchantBlocked", terminal.MerchantBlocked, func(_ *terminal.Rules, q *terminal.Request) { q.Merchant.Blocked = true }},
		// Never synced is not "merchant suspended": the terminal has no profile yet.
		{"NoMerchantProfile", terminal.OfflineLimit, func(_ *terminal.Rules, q *terminal.Request) { q.Merchant = nil }},
		{"OfflineLimit", terminal.OfflineLimit, func(_ *terminal.Rules, q *terminal.Request) {
			q.Offline = &terminal.SyncState{LastSync: noon.Add(-time.Hour), UnsyncedFen: terminal.Yuan(4990)}
		}},
		{"OfflineWithinLimit", "", func(_ *terminal.Rules, q *terminal.Request) {
			q.Offline = &terminal.SyncState{LastSync: noon.Add(-time.Hour), UnsyncedFen: terminal.Yuan(4960)}
		}},
	}
	seen := map[terminal.Code]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rules(t)
			req := &terminal.Request{Code: mustEncode(t, valid), Merchant: merchant(terminal.Retail),
				Checkout: mustCheckout(t, basket...), Now: noon}
			c.setup(r, req)
			got := r.Decide(req)
			var gotCode terminal.Code
			if got.Decline != nil {
				gotCode = got.Decline.Code
				if got.Decline.Message == "" || got.Decline.MessageEN == "" {
					t.Errorf("decline without messages: %+v", got.Decline)
				}
			}
			if gotCode != c.want {
				t.Fatalf("got %q (%v), want %q", gotCode, got.Decline, c.want)
			}
			seen[gotCode] = true
			// The code decoded ahead decides the same; a code decoded from
			// other text is not used.
			other := withV(func(v *terminal.Voucher) { v.ID, v.Holder = v.ID+1, v.Holder+1 })
			for _, text := range []string{req.Code, other} {
				var dc terminal.DecodedCode
				dc.Decode(text)
				q := *req
				q.Decoded = &dc
				if d := r.Decide(&q); !reflect.DeepEqual(d, got) {
					t.Errorf("with the code decoded ahead from %.20q…: %+v, want %+v", text, d, got)
				}
			}
		})
	}
	for _, k := range terminal.Codes {
		if !seen[k] {
			t.Errorf("decline code %s never reached", k)
		}
	}
}

func TestRules_Love(t *testing.T) {
	love := voucher(terminal.Love, 0, 100000)
	t.Run("PaysDownTheBill", func(t *testing.T) {
		got := decide(t, rules(t), love, 150000, noon)
		if !got.Approved() || got.DiscountFen != 100000 || got.PayableFen != 50000 || got.Warning != "" {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("CustomerPaysAtLeastOneFen", func(t *testing.T) {
		got := decide(t, rules(t), love, 30000, noon)
		if !got.Approved() || got.DiscountFen != 29999 || got.PayableFen != 1 {
			t.Fatalf("%+v", got)
		}
		if !strings.Contains(got.Warning, "作废") || !strings.Contains(got.Warning, "¥700.01") {
			t.Errorf("no forfeit warning: %q", got.Warning)
		}
	})
	t.Run("NotAgainstStoredValue", func(t *testing.T) {
		card := item("card", 1, 90000)
		card.Category = terminal.StoredValueCard
		got := rules(t).Decide(&terminal.Request{Code: mustEncode(t, love), Merchant: merchant(terminal.Fuel),
			Checkout: mustCheckout(t, card, item("oil", 1, 20000)), Now: noon})
		if !got.Approved() || got.DiscountFen != 20000 || got.PayableFen != 90000 {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("EveryMerchantCategory", func(t *testing.T) {
		for _, c := range []terminal.Category{terminal.Retail, terminal.Fuel, terminal.Appliance, terminal.Hospitality} {
			got := rules(t).Decide(&terminal.Request{Code: mustEncode(t, love), Merchant: merchant(c),
				Checkout: mustCheckout(t, item("x", 1, 500)), Now: noon})
			if !got.Approved() {
				t.Errorf("%s: %v", c, got.Decline)
			}
		}
	})
}

func TestRules_LinkedTransactionsFlagged(t *testing.T) {
	r := rules(t)
	r.History.(*terminal.MemHistory).Add(terminal.Recent{RedemptionID: "T1-0000000001", VoucherID: 7, Holder: 8,
		At: noon.Add(-4 * time.Minute), EligibleFen: 20500, SpendFen: 20000})
	got := decide(t, r, voucher(terminal.Retail, 20000, 4000), 20100, noon)
	if !got.Approved() || len(got.Flags) != 1 || !strings.Contains(got.Flags[0], "T1-0000000001") {
		t.Fatalf("approved=%v flags=%q", got.Approved(), got.Flags)
	}
	// Well over the threshold: not flagged.
	if got := decide(t, r, voucher(terminal.Retail, 20000, 4000), 30000, noon); len(got.Flags) != 0 {
		t.Errorf("flagged a basket well over threshold: %q", got.Flags)
	}
	// Outside the window: not flagged.
	if got := decide(t, r, voucher(terminal.Retail, 20000, 4000), 20100, noon.Add(7*time.Minute)); len(got.Flags) != 0 {
		t.Errorf("flagged outside the link window: %q", got.Flags)
	}
}

func TestParams_CheckOffline(t *testing.T) {
	p := terminal.DefaultParams()
	base := terminal.SyncState{LastSync: noon.Add(-time.Hour), HighWater: noon.Add(-time.Minute)}
	cases := []struct {
		name     string
		mod      func(*terminal.SyncState)
		discount terminal.Fen
		ok       bool
		reason   terminal.Reason
	}{
		{"OK", func(*terminal.SyncState) {}, 4000, true, ""},
		{"NeverSynced", func(s *terminal.SyncState) { s.LastSync = time.Time{} }, 4000, false, terminal.ReasonNeverSynced},
		{"ClockBackwards", func(s *terminal.SyncState) { s.HighWater = noon.Add(time.Minute) }, 4000, false, terminal.ReasonClock},
		{"Drift", func(s *terminal.SyncState) { s.ServerOffset = -6 * time.Minute }, 4000, false, terminal.ReasonClock},
		{"StaleSync", func(s *terminal.SyncState) { s.LastSync = noon.Add(-25 * time.Hour) }, 4000, false, terminal.ReasonAge},
		{"PerRedemptionCap", func(*terminal.SyncState) {}, terminal.Yuan(1000) + 1, false, terminal.ReasonOfflineCap},
		{"AtPerRedemptionCap", func(*terminal.SyncState) {}, terminal.Yuan(1000), true, ""},
		{"TotalCap", func(s *terminal.SyncState) { s.UnsyncedFen = terminal.Yuan(4999) }, 101, false, terminal.ReasonAllowance},
		{"AtTotalCap", func(s *terminal.SyncState) { s.UnsyncedFen = terminal.Yuan(4999) }, 100, true, ""},
		// The server's clock at the last sync was 4 minutes behind the
		// terminal's: now is 24 h 1 min after the server's time then, though
		// only 23 h 57 min after the terminal's (a clock set forward).
		{"AheadOfServerTime", func(s *terminal.SyncState) {
			s.LastSync, s.ServerOffset = noon.Add(-23*time.Hour-57*time.Minute), -4*time.Minute
		}, 4000, false, terminal.ReasonAge},
		{"LedgerFault", func(s *terminal.SyncState) { s.Hold = terminal.ReasonLedgerFault }, 4000, false, terminal.ReasonLedgerFault},
		{"DiskFull", func(s *terminal.SyncState) { s.Hold = terminal.ReasonDiskFull }, 4000, false, terminal.ReasonDiskFull},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base
			c.mod(&s)
			err := p.CheckOffline(&s, c.discount, noon)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if err != nil && (err.Code != terminal.OfflineLimit || err.Reason != c.reason) {
				t.Fatalf("code %s reason %q, want offline_limit %q", err.Code, err.Reason, c.reason)
			}
		})
	}
}

func TestProgramme(t *testing.T) {
	p := terminal.Qinshui2022()
	if p.Region != 140521 || p.BudgetFen != terminal.Yuan(12_700_000) {
		t.Errorf("region %d budget %s", p.Region, p.BudgetFen)
	}
	want := map[terminal.Category]int{terminal.Retail: 2, terminal.Fuel: 2, terminal.Appliance: 4, terminal.Hospitality: 3}
	for c, n := range want {
		if got := len(p.Plan(c).Denominations); got != n {
			t.Errorf("%s: %d denominations, want %d", c, got, n)
		}
	}
	if !p.HasDenomination(terminal.Appliance, terminal.Denomination{SpendFen: 300000, OffFen: 30000}) {
		t.Error("appliance 3000-300 missing")
	}
	if p.HasDenomination(terminal.Fuel, terminal.Denomination{SpendFen: 5000, OffFen: 1000}) {
		t.Error("fuel 50-10 should not exist")
	}
	var round1 terminal.Fen
	for _, f := range p.Rounds[0].ByCategoryFen {
		round1 += f
	}
	if round1 != p.Rounds[0].BudgetFen || round1 != terminal.Yuan(7_000_000) {
		t.Errorf("round 1 adds to %s", round1)
	}
	if _, err := terminal.ParseProgramme([]byte(`{"categories":[{"code":"retail","id":1,"budget_fen":5,"denominations":[{"spend_fen":100,"off_fen":100}]}],"budget_fen":5}`)); err == nil {
		t.Error("bad denomination accepted")
	}
	if _, err := terminal.ParseProgramme([]byte(`{`)); err == nil {
		t.Error("broken JSON accepted")
	}
}

// TestDeclinef: every reason has its own message in both languages, none
// the same as another's or as its code's standard message.
func TestDeclinef(t *testing.T) {
	seen := map[string]terminal.Reason{}
	std := terminal.Errorf(terminal.OfflineLimit, "").Message
	for _, r := range terminal.Reasons {
		e := terminal.Declinef(terminal.OfflineLimit, r, "detail %d", 1)
		if e.Reason != r || e.Detail != "detail 1" || e.Message == "" || e.MessageEN == "" || e.Message == std {
			t.Errorf("%s: %+v", r, e)
		}
		if o, dup := seen[e.Message]; dup {
			t.Errorf("%s and %s share the message %q", r, o, e.Message)
		}
		seen[e.Message] = r
	}
	if e := terminal.Declinef(terminal.Expired, "", ""); e.Message != terminal.Errorf(terminal.Expired, "").Message {
		t.Errorf("no reason: %q, want the code's message", e.Message)
	}
}

// TestRules_BelowThresholdSaysHowMuchMore: the cashier reads how much more
// the customer must buy, in both languages.
func TestRules_BelowThresholdSaysHowMuchMore(t *testing.T) {
	got := decide(t, rules(t), voucher(terminal.Retail, 20000, 4000), 15050, noon)
	if got.Decline == nil || got.Decline.Code != terminal.BelowThreshold {
		t.Fatalf("decline %v, want below_threshold", got.Decline)
	}
	if !strings.Contains(got.Decline.Message, "还差 ¥49.50") || !strings.Contains(got.Decline.MessageEN, "¥49.50 short") {
		t.Fatalf("messages %q / %q, want ¥49.50 more", got.Decline.Message, got.Decline.MessageEN)
	}
}
