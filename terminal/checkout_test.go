package terminal_test

import (
	"errors"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

func TestCheckout_States(t *testing.T) {
	r := rules(t)
	v := voucher(terminal.Retail, 5000, 1000)
	co := mustCheckout(t, item("a", 1, 6000))
	if co.Status != terminal.StatusOpen || co.PayableFen != 6000 {
		t.Fatalf("%+v", co)
	}
	d := r.Decide(&terminal.Request{Code: mustEncode(t, v), Merchant: merchant(terminal.Retail), Checkout: co, Now: noon})
	co.Apply(&d, "code")
	if co.Status != terminal.StatusVoucherApplied || co.DiscountFen != 1000 || co.PayableFen != 5000 || co.Voucher == nil {
		t.Fatalf("after apply: %+v", co)
	}
	// A second voucher is declined and changes nothing.
	d2 := r.Decide(&terminal.Request{Code: mustEncode(t, v), Merchant: merchant(terminal.Retail), Checkout: co, Now: noon})
	co.Apply(&d2, "code2")
	if co.Decline == nil || co.Decline.Code != terminal.OneVoucherPerTransaction || co.PayableFen != 5000 || co.Code != "code" {
		t.Fatalf("after second voucher: %+v", co)
	}
	if err := co.Cancel(); err != nil {
		t.Fatal(err)
	}
	if co.Voucher != nil || co.PayableFen != 6000 || co.Status != terminal.StatusCancelled {
		t.Fatalf("after cancel: %+v", co)
	}
	if err := co.Complete("R1"); !errors.Is(err, terminal.ErrCheckoutState) {
		t.Errorf("complete after cancel: %v", err)
	}
	if err := co.Cancel(); !errors.Is(err, terminal.ErrCheckoutState) {
		t.Errorf("cancel twice: %v", err)
	}

	co = mustCheckout(t, item("a", 1, 6000))
	if err := co.Complete(""); err != nil || co.Status != terminal.StatusCompleted {
		t.Errorf("plain sale: %v %s", err, co.Status)
	}
}

func TestNewCheckout_Rejects(t *testing.T) {
	bad := map[string][]terminal.Item{
		"negative price": {item("a", 1, -1)},
		"negative qty":   {item("a", -1, 100)},
		"zero qty":       {item("a", 0, 100)},
		"no lines":       {},
		"absurd qty":     {item("a", terminal.MaxQty+1, 100)},
		"absurd price":   {item("a", 1, terminal.MaxFen+1)},
		"overflow total": {item("a", terminal.MaxQty, terminal.MaxFen/1000)},
		"no sku":         {item("", 1, 100)},
		"two prices":     {item("a", 1, 100), item("a", 1, 200)},
	}
	for name, items := range bad {
		if _, err := terminal.NewCheckout("C", items, noon); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := terminal.NewCheckout("C", make([]terminal.Item, terminal.MaxItems+1), noon); err == nil {
		t.Error("too many lines accepted")
	}
}

// sale is a completed redemption of a 200-40 retail voucher on a basket of
// 3 × ¥70 rice (eligible), 1 × ¥50 stored-value card (not eligible).
func sale() *terminal.Redemption {
	card := item("card", 1, 5000)
	card.Category = terminal.StoredValueCard
	return &terminal.Redemption{ID: "T1-0000000001", Kind: terminal.KindRedemption, Voucher: voucher(terminal.Retail, 20000, 4000),
		Items: []terminal.Item{item("rice", 3, 7000), card}, TotalFen: 26000, EligibleFen: 21000, DiscountFen: 4000, PayableFen: 22000}
}

func TestPlanRefund(t *testing.T) {
	t.Run("FullWhileValid", func(t *testing.T) {
		got, err := terminal.PlanRefund(sale(), nil, nil, noon)
		if err != nil || got.RefundFen != 22000 || !got.VoucherReturned || !got.Full || got.VoucherShareFen != 4000 {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("FullAfterExpiry", func(t *testing.T) {
		got, err := terminal.PlanRefund(sale(), nil, nil, day.Add(25*time.Hour))
		if err != nil || got.RefundFen != 22000 || got.VoucherReturned {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("PartialEligible", func(t *testing.T) {
		got, err := terminal.PlanRefund(sale(), nil, []terminal.Item{{SKU: "rice", Qty: 1}}, noon)
		// share = ceil(4000 × 7000 / 21000) = 1334
		if err != nil || got.GrossFen != 7000 || got.VoucherShareFen != 1334 || got.RefundFen != 5666 || got.VoucherReturned {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("PartialIneligible", func(t *testing.T) {
		got, err := terminal.PlanRefund(sale(), nil, []terminal.Item{{SKU: "card", Qty: 1}}, noon)
		if err != nil || got.RefundFen != 5000 || got.VoucherShareFen != 0 {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("PiecewiseAddsUpToWhatWasPaid", func(t *testing.T) {
		orig := sale()
		var prior []*terminal.Redemption
		var refunded terminal.Fen
		for _, sku := range []string{"rice", "card", "rice", "rice"} {
			p, err := terminal.PlanRefund(orig, prior, []terminal.Item{{SKU: sku, Qty: 1}}, noon)
			if err != nil {
				t.Fatal(err)
			}
			if p.VoucherReturned {
				t.Fatal("a partial refund returned the voucher")
			}
			refunded += p.RefundFen
			prior = append(prior, &terminal.Redemption{Kind: terminal.KindRefund, Items: p.Items, RefundFen: p.RefundFen})
		}
		if refunded != orig.PayableFen {
			t.Fatalf("refunded %s in parts, customer paid %s", refunded, orig.PayableFen)
		}
		if _, err := terminal.PlanRefund(orig, prior, nil, noon); !errors.Is(err, terminal.ErrRefund) {
			t.Fatalf("refund after everything refunded: %v", err)
		}
	})
	t.Run("RestAfterPartial", func(t *testing.T) {
		orig := sale()
		p1, _ := terminal.PlanRefund(orig, nil, []terminal.Item{{SKU: "rice", Qty: 2}}, noon)
		prior := []*terminal.Redemption{{Kind: terminal.KindRefund, Items: p1.Items}}
		p2, err := terminal.PlanRefund(orig, prior, nil, noon)
		if err != nil || p2.Full || p2.VoucherReturned || p1.RefundFen+p2.RefundFen != orig.PayableFen {
			t.Fatalf("%+v %+v %v", p1, p2, err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for name, lines := range map[string][]terminal.Item{
			"unknown sku": {{SKU: "beer", Qty: 1}},
			"too many":    {{SKU: "rice", Qty: 4}},
			"zero":        {{SKU: "rice", Qty: 0}},
			"negative":    {{SKU: "rice", Qty: -1}},
			"twice":       {{SKU: "rice", Qty: 2}, {SKU: "rice", Qty: 2}},
		} {
			if _, err := terminal.PlanRefund(sale(), nil, lines, noon); !errors.Is(err, terminal.ErrRefund) {
				t.Errorf("%s: %v", name, err)
			}
		}
		ref := sale()
		ref.Kind = terminal.KindRefund
		if _, err := terminal.PlanRefund(ref, nil, nil, noon); !errors.Is(err, terminal.ErrRefund) {
			t.Errorf("refund of a refund: %v", err)
		}
	})
}

func TestChainHash(t *testing.T) {
	var zero [32]byte
	a := terminal.ChainHash(zero, 1, []byte(`{"id":"T1-1"}`))
	if a == terminal.ChainHash(zero, 2, []byte(`{"id":"T1-1"}`)) {
		t.Error("seq not bound")
	}
	if a == terminal.ChainHash(a, 1, []byte(`{"id":"T1-1"}`)) {
		t.Error("prev not bound")
	}
	if a == terminal.ChainHash(zero, 1, []byte(`{"id":"T1-2"}`)) {
		t.Error("body not bound")
	}
}
