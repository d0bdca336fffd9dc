package terminal_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// reviewed builds what a rogue (or honest) terminal sends: a redemption of
// v at noon with one eligible line worth eligible, with the amounts the
// rules give, from terminal T1 of merchant M1 (retail).
func reviewed(t *testing.T, v terminal.Voucher, eligible terminal.Fen) *terminal.Redemption {
	t.Helper()
	items := []terminal.Item{item("goods", 1, eligible)}
	discount := v.OffFen
	if discount > eligible-1 {
		discount = eligible - 1
	}
	return &terminal.Redemption{ID: terminal.RecordID("T1", 5), Kind: terminal.KindRedemption, Seq: 5,
		TerminalID: "T1", MerchantID: "M1", At: noon, CheckoutID: "C1", Code: mustEncode(t, v), Voucher: v,
		Items: items, TotalFen: eligible, EligibleFen: eligible, DiscountFen: discount, PayableFen: eligible - discount}
}

// sender is T1 of a retail merchant, synced an hour before noon, its
// connection opened at 14:00 with seq 9 (so seq 5 was made before it).
func sender() *terminal.Sender {
	return &terminal.Sender{TerminalID: "T1", Merchant: merchant(terminal.Retail), ReceivedAt: noon.Add(2 * time.Hour),
		PrevAt: noon.Add(-time.Hour), ConnectedAt: noon.Add(2 * time.Hour), ConnectedSeq: 9, LastSync: noon.Add(-time.Hour)}
}

// corrupt changes one character of a code's signature, as in TestRules_Decide.
func corrupt(code string) string {
	c := []byte(code)
	c[len(c)-5] ^= 'A' ^ 'B'
	if c[len(c)-5] == code[len(c)-5] {
		c[len(c)-5] = '0'
	}
	return string(c)
}

// minted is an issuer's record of its codes (terminal.MintedCodes).
type minted map[terminal.VoucherID]string

func (m minted) MintedCode(id terminal.VoucherID) (string, bool) { c, ok := m[id]; return c, ok }

func TestRules_Review(t *testing.T) {
	retail := voucher(terminal.Retail, terminal.Yuan(200), terminal.Yuan(40))
	other := retail
	other.ID, other.Category, other.SpendFen, other.OffFen = 0x99, terminal.Fuel, terminal.Yuan(100), terminal.Yuan(20)
	_, stranger, _ := ed25519.GenerateKey(nil)
	cases := []struct {
		name  string
		want  terminal.Code
		setup func(r *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, led *terminal.MemLedgers)
	}{
		{"OKOffline", "", func(*terminal.Rules, *terminal.Redemption, *terminal.Sender, *terminal.MemLedgers) {}},
		{"OKOnlineHeld", "", func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Online, s.Held, s.LastSync = true, true, time.Time{}
		}},
		{"OnlineNotHeld", terminal.OfflineLimit, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Online, s.LastSync = true, time.Time{}
		}},
		{"FutureDated", terminal.FutureDated, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			s.ReceivedAt = noon.Add(-10 * time.Minute)
		}},
		{"WithinSkew", "", func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			s.ReceivedAt = noon.Add(-4 * time.Minute)
		}},
		{"BeforePrevious", terminal.Backdated, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			s.PrevAt = noon.Add(time.Second)
		}},
		{"BeforeItsConnection", terminal.Backdated, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			s.ConnectedSeq = 4
		}},
		{"OfflineTooLong", terminal.OfflineLimit, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			s.LastSync = noon.Add(-25 * time.Hour)
		}},
		{"OfflineExposure", terminal.OfflineLimit, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			s.UnsyncedFen = terminal.Yuan(4980)
		}},
		{"NeverSynced", terminal.OfflineLimit, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			s.LastSync = time.Time{}
		}},
		{"MerchantBlocked", terminal.MerchantBlocked, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			s.Merchant.Blocked = true
		}},
		{"NoProfile", terminal.MerchantBlocked, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			s.Merchant = nil
		}},
		{"Expired", terminal.Expired, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			v := rec.Voucher
			v.ValidFrom, v.ValidUntil = terminal.ClaimDay(day.AddDate(0, 0, -1))
			rec.Voucher, rec.Code = v, mustEncode(t, v)
		}},
		{"NotYetValid", terminal.NotYetValid, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			v := rec.Voucher
			v.ValidFrom, v.ValidUntil = terminal.ClaimDay(day.AddDate(0, 0, 1))
			rec.Voucher, rec.Code = v, mustEncode(t, v)
		}},
		{"CategoryMismatch", terminal.CategoryMismatch, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Voucher, rec.Code = other, mustEncode(t, other)
			rec.DiscountFen, rec.PayableFen = other.OffFen, rec.TotalFen-other.OffFen
		}},
		{"ApplianceAtRetail", terminal.CategoryMismatch, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			v := voucher(terminal.Appliance, terminal.Yuan(10000), terminal.Yuan(1000))
			rec.Voucher, rec.Code = v, mustEncode(t, v)
			rec.Items = []terminal.Item{item("tv", 1, terminal.Yuan(12000))}
			rec.TotalFen, rec.EligibleFen, rec.DiscountFen, rec.PayableFen = terminal.Yuan(12000), terminal.Yuan(12000), terminal.Yuan(1000), terminal.Yuan(11000)
		}},
		{"RegionMismatch", terminal.RegionMismatch, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			v := rec.Voucher
			v.Region = 140522
			rec.Voucher, rec.Code = v, mustEncode(t, v)
		}},
		{"Revoked", terminal.Revoked, func(r *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			r.Revoked = terminal.RevocationSet{rec.Voucher.ID: {}}
		}},
		{"BadSignature", terminal.BadSignature, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Code = corrupt(rec.Code)
		}},
		{"MintedNotVerifiedAgain", "", func(r *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			// The issuer's record of the code it minted is what makes the
			// code genuine: a signature the ring would refuse is not checked.
			rec.Code = corrupt(rec.Code)
			r.Minted = minted{rec.Voucher.ID: rec.Code}
		}},
		{"DiffersFromMinted", terminal.BadSignature, func(r *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			r.Minted = minted{rec.Voucher.ID: corrupt(rec.Code)} // the record's code verifies, yet it is not the one minted
		}},
		{"NotMintedVerified", terminal.BadSignature, func(r *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			r.Minted = minted{rec.Voucher.ID + 1: rec.Code}
			rec.Code = corrupt(rec.Code)
		}},
		{"MintedUnknownKey", terminal.UnknownKey, func(r *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Code = mustEncodeWith(t, rec.Voucher, stranger)
			r.Minted = minted{rec.Voucher.ID: rec.Code}
		}},
		{"UnknownKey", terminal.UnknownKey, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Code = mustEncodeWith(t, rec.Voucher, stranger)
		}},
		{"Malformed", terminal.Malformed, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Code = "VC1:nonsense"
		}},
		{"NotInProgramme", terminal.Malformed, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			v := rec.Voucher
			v.SpendFen, v.OffFen = terminal.Yuan(200), terminal.Yuan(150)
			rec.Voucher, rec.Code = v, mustEncode(t, v)
		}},
		{"NoTime", terminal.Malformed, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.At, s.PrevAt = time.Time{}, time.Time{}
		}},
		{"AlreadyRedeemed", terminal.AlreadyRedeemed, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, led *terminal.MemLedgers) {
			prev := *rec
			prev.ID, prev.TerminalID, prev.MerchantID, prev.At = "T9-0000000001", "T9", "M9", noon.Add(-5*time.Hour)
			led.Add(&prev, &terminal.Verdict{})
		}},
		{"SplitBill", terminal.SplitBill, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, led *terminal.MemLedgers) {
			prev := *rec // same holder, another voucher, ten minutes later on another till
			prev.ID, prev.TerminalID, prev.At = "T2-0000000001", "T2", noon.Add(10*time.Minute)
			prev.Voucher.ID = 0x42
			led.Add(&prev, &terminal.Verdict{})
		}},
		{"BelowThreshold", terminal.BelowThreshold, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Items = []terminal.Item{item("goods", 1, terminal.Yuan(150)), {SKU: "card", Name: "储值卡", Category: terminal.StoredValueCard, Qty: 1, UnitPriceFen: terminal.Yuan(100)}}
			rec.TotalFen, rec.EligibleFen = terminal.Yuan(250), terminal.Yuan(250) // the record lies
			rec.PayableFen = rec.TotalFen - rec.DiscountFen
		}},
		{"EmptyTransaction", terminal.EmptyTransaction, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Items = []terminal.Item{{SKU: "card", Name: "储值卡", Category: terminal.StoredValueCard, Qty: 1, UnitPriceFen: terminal.Yuan(300)}}
		}},
		{"NoItems", terminal.EmptyTransaction, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Items = nil
		}},
		{"DiscountInflated", terminal.AmountMismatch, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.DiscountFen, rec.PayableFen = rec.TotalFen-1, 1
		}},
		{"TotalNotTheLines", terminal.AmountMismatch, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.TotalFen, rec.EligibleFen, rec.PayableFen = rec.TotalFen*10, rec.EligibleFen*10, rec.TotalFen*10-rec.DiscountFen
		}},
		{"VoucherFieldsNotTheCode", terminal.AmountMismatch, func(_ *terminal.Rules, rec *terminal.Redemption, s *terminal.Sender, _ *terminal.MemLedgers) {
			rec.Voucher.OffFen = terminal.Yuan(100)
		}},
	}
	seen := map[terminal.Code]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rules(t)
			led := terminal.NewMemLedgers()
			rec, s := reviewed(t, retail, terminal.Yuan(250)), sender()
			c.setup(r, rec, s, led)
			got := r.Review(rec, s, led)
			var code terminal.Code
			if got.Decline != nil {
				code = got.Decline.Code
				if got.Decline.Message == "" || got.Decline.MessageEN == "" || !strings.HasPrefix(got.Reason(), string(code)+": ") {
					t.Errorf("reason without both languages: %q", got.Reason())
				}
			}
			if code != c.want {
				t.Fatalf("got %q (%v), want %q", code, got.Decline, c.want)
			}
			seen[code] = true
		})
	}
	// Every rule a till enforces on a completed sale is enforced again.
	for _, k := range terminal.Codes {
		switch k {
		case terminal.OneVoucherPerTransaction, terminal.NoOpenCheckout:
			continue // a record carries one voucher and is a completed sale by construction
		}
		if !seen[k] {
			t.Errorf("decline code %s never reached on review", k)
		}
	}
}

func TestRules_ReviewRefund(t *testing.T) {
	retail := voucher(terminal.Retail, terminal.Yuan(200), terminal.Yuan(40))
	setup := func(t *testing.T, accepted bool) (*terminal.Rules, *terminal.MemLedgers, *terminal.Redemption, *terminal.Redemption) {
		r, led := rules(t), terminal.NewMemLedgers()
		sale := reviewed(t, retail, terminal.Yuan(250))
		v := &terminal.Verdict{}
		if !accepted {
			v.Decline = terminal.Errorf(terminal.SplitBill, "")
		}
		led.Add(sale, v)
		plan, err := terminal.PlanRefund(sale, nil, nil, noon.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		ref := &terminal.Redemption{ID: terminal.RecordID("T1", 6), Kind: terminal.KindRefund, Seq: 6, TerminalID: "T1",
			MerchantID: "M1", At: noon.Add(time.Hour), Code: sale.Code, Voucher: sale.Voucher, Items: plan.Items,
			TotalFen: plan.GrossFen, RefundOf: sale.ID, RefundFen: plan.RefundFen, VoucherShareFen: plan.VoucherShareFen,
			VoucherReturned: plan.VoucherReturned}
		return r, led, sale, ref
	}
	s := sender()
	s.PrevAt = noon
	t.Run("OKReturnsVoucher", func(t *testing.T) {
		r, led, _, ref := setup(t, true)
		got := r.Review(ref, s, led)
		if !got.Accepted() || !got.ReturnsVoucher {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("OfConflictKeepsVoucher", func(t *testing.T) {
		r, led, _, ref := setup(t, false)
		got := r.Review(ref, s, led)
		if !got.Accepted() || got.ReturnsVoucher {
			t.Fatalf("got %+v", got)
		}
	})
	for name, tamper := range map[string]func(ref *terminal.Redemption){
		"Inflated":           func(ref *terminal.Redemption) { ref.RefundFen += 4000 },
		"ShareDropped":       func(ref *terminal.Redemption) { ref.VoucherShareFen = 0 },
		"UnknownSale":        func(ref *terminal.Redemption) { ref.RefundOf = "T1-0000000077" },
		"LinePriceChanged":   func(ref *terminal.Redemption) { ref.Items[0].UnitPriceFen++ },
		"MoreThanSold":       func(ref *terminal.Redemption) { ref.Items[0].Qty = 2 },
		"ReturnedWhenLate":   func(ref *terminal.Redemption) { ref.At = day.Add(25 * time.Hour) },
		"OtherVoucher":       func(ref *terminal.Redemption) { ref.Voucher.ID = 0x77 },
		"ReturnedNotClaimed": func(ref *terminal.Redemption) { ref.VoucherReturned = false },
	} {
		t.Run(name, func(t *testing.T) {
			r, led, _, ref := setup(t, true)
			tamper(ref)
			ss := *s
			ss.ReceivedAt = day.Add(26 * time.Hour)
			got := r.Review(ref, &ss, led)
			if got.Decline == nil || got.Decline.Code != terminal.RefundMismatch || got.ReturnsVoucher {
				t.Fatalf("got %+v", got)
			}
		})
	}
}
