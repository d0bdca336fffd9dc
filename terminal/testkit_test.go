package terminal_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// testKey is a fixed issuer key (seed bytes 00 01 02 … 1f) so that the test
// vectors of docs/voucher-code.md are stable.
var testKey = ed25519.NewKeyFromSeed(func() []byte {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}())

// testPub is testKey's public key.
var testPub = testKey.Public().(ed25519.PublicKey)

// day is 2022-10-01, UTC+8, a day of the programme's first round.
var day = time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)

// noon is when most test redemptions happen.
var noon = day.Add(12 * time.Hour)

func voucher(c terminal.Category, spend, off terminal.Fen) terminal.Voucher {
	from, until := terminal.ClaimDay(day)
	return terminal.Voucher{
		ID: 0x1122334455667788, Holder: 0xA1B2C3D4E5F60718, Category: c,
		SpendFen: spend, OffFen: off, ValidFrom: from, ValidUntil: until,
		Region: 140521, Campaign: 202202, Round: 1,
	}
}

func mustEncode(tb testing.TB, v terminal.Voucher) string {
	tb.Helper()
	return mustEncodeWith(tb, v, testKey)
}

func mustEncodeWith(tb testing.TB, v terminal.Voucher, priv ed25519.PrivateKey) string {
	tb.Helper()
	s, err := terminal.Encode(v, priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func merchant(c terminal.Category) *terminal.Merchant {
	return &terminal.Merchant{ID: "M1", Name: "沁水百货", Category: c, Region: 140521}
}

func mustCheckout(tb testing.TB, items ...terminal.Item) *terminal.Checkout {
	tb.Helper()
	co, err := terminal.NewCheckout("C1", items, noon)
	if err != nil {
		tb.Fatal(err)
	}
	return co
}

// rawCheckout is an open checkout of items that NewCheckout would refuse
// (no lines, zero quantities): what a rogue terminal's record may carry.
func rawCheckout(items ...terminal.Item) *terminal.Checkout {
	return &terminal.Checkout{ID: "C1", Status: terminal.StatusOpen, Items: items, OpenedAt: noon}
}

func item(sku string, qty int64, price terminal.Fen) terminal.Item {
	return terminal.Item{SKU: sku, Name: sku, Category: "grocery", Qty: qty, UnitPriceFen: price}
}

// keyring trusts testKey.
func keyring(tb testing.TB) *terminal.Keyring {
	tb.Helper()
	kr, err := terminal.NewKeyring(testPub)
	if err != nil {
		tb.Fatal(err)
	}
	return kr
}

func rules(tb testing.TB) *terminal.Rules {
	tb.Helper()
	return &terminal.Rules{Programme: terminal.Qinshui2022(), Keys: keyring(tb),
		Revoked: terminal.RevocationSet{}, History: terminal.NewMemHistory()}
}
