package hub

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

func sampleBody(tb testing.TB) []byte {
	r := terminal.Redemption{ID: "T1-0000000007", Kind: terminal.KindRedemption, Seq: 7, TerminalID: "T1", MerchantID: "M1",
		At: time.Date(2022, 10, 1, 12, 0, 0, 123, terminal.Zone), CheckoutID: "C\"1<>", Code: "VC1:ABC DEF",
		Voucher:  terminal.Voucher{ID: 0x1122334455667788, Category: terminal.Retail, SpendFen: 20000, OffFen: 4000},
		Items:    []terminal.Item{{SKU: "rice", Name: "大米\n5kg", Category: "grocery", Qty: 2, UnitPriceFen: 13000}},
		TotalFen: 26000, EligibleFen: 26000, DiscountFen: 4000, PayableFen: 22000, Flags: []string{"linked: x"},
		RefundOf: "T1-0000000001", RefundFen: 10, VoucherShareFen: 3, VoucherReturned: true}
	b, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestParseBody_MatchesEncodingJSON(t *testing.T) {
	b := sampleBody(t)
	var got, want recMeta
	if err := parseBody(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !got.At.Equal(want.At) {
		t.Errorf("at %v, want %v", got.At, want.At)
	}
	got.At, want.At = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// FuzzParseBody: untrusted bodies never panic, and whatever parseBody
// accepts is valid JSON that encoding/json reads to the same fields.
func FuzzParseBody(f *testing.F) {
	f.Add(sampleBody(f))
	f.Add([]byte(`{"kind":"refund","seq":1,"items":[[[{}]]],"x":-0.5e+3,"y":null,"voucher_returned":true}`))
	f.Add([]byte(`{"seq":01}`))        // leading zero
	f.Add([]byte(`{"code":"\u00e9\"`)) // unterminated
	f.Add([]byte(`{"voucher":{"id":"zz"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got recMeta
		if parseBody(b, &got) != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
	})
}
