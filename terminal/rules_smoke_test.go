package terminal_test

import (
	"testing"

	"github.com/voucherpos/voucherpos/terminal"
)

func TestSmoke(t *testing.T) {
	code := mustEncode(t, voucher(terminal.Retail, 20000, 4000))
	t.Log(len(code), code)
	r := rules(t)
	d := r.Decide(&terminal.Request{Code: code, Merchant: merchant(terminal.Retail), Checkout: mustCheckout(t, item("a", 2, 10000)), Now: noon})
	if !d.Approved() || d.PayableFen != 16000 {
		t.Fatalf("%+v", d)
	}
}
