package main

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestVoucherd_Migrate fills an embedded ledger with a day of synced sales
// from two terminals (one voucher on both: a conflict), migrates it into
// PostgreSQL, and compares voucherd report before and after.
func TestVoucherd_Migrate(t *testing.T) {
	dbURL := pgtest.DB(t)
	dir := t.TempDir()
	day := time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)
	fillDay(t, dir, day)
	keyFile := filepath.Join(t.TempDir(), "issuing.key")
	const d = "2022-10-01"
	var before []string
	for _, f := range []string{"json", "csv", "table"} {
		before = append(before, voucherd(t, 0, "report", "-data", dir, "-day", d, "-format", f))
	}
	if !strings.Contains(before[0], `"conflicts": [`) || strings.Contains(before[0], `"conflicts": []`) {
		t.Fatalf("the day has no conflict to carry over: %s", before[0])
	}
	out := voucherd(t, 0, "migrate", "-data", dir, "-db", dbURL, "-key-file", keyFile)
	if !strings.Contains(out, "checked:") {
		t.Fatalf("migrate: %s", out)
	}
	for i, f := range []string{"json", "csv", "table"} {
		if after := voucherd(t, 0, "report", "-db", dbURL, "-key-file", keyFile, "-day", d, "-format", f); after != before[i] {
			t.Errorf("report -format %s after migrate:\n%s\nbefore:\n%s", f, after, before[i])
		}
	}
	if msg := voucherdErr(t, "migrate", "-data", dir, "-db", dbURL, "-key-file", keyFile); !strings.Contains(msg, "not empty") {
		t.Errorf("second migrate: %q", msg)
	}
	voucherd(t, 0, "check", "-data", dir) // left untouched and whole
}

// fillDay runs an embedded hub on dir with two terminals that sync a day
// of sales, the first voucher sold on both.
func fillDay(t *testing.T, dir string, day time.Time) {
	noon := day.Add(12 * time.Hour)
	ctx := context.Background()
	h, err := boltstore.OpenHub(dir, hub.Options{Create: true, Now: func() time.Time { return noon }, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	if err := h.AddMerchant(ctx, terminal.Merchant{ID: "M1", Name: "沁水百货", Category: terminal.Retail}); err != nil {
		t.Fatal(err)
	}
	from, until := terminal.ClaimDay(day)
	codes, err := h.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40),
		Holder: 0xABC, From: from, Until: until, N: 41, EachHolder: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"T1", "T2"} {
		cred, err := h.AddTerminal(ctx, "M1", id)
		if err != nil {
			t.Fatal(err)
		}
		led, err := offline.Open(filepath.Join(t.TempDir(), "terminal.db"), offline.Options{TerminalID: id, MerchantID: "M1", Key: cred.PrivateKey()})
		if err != nil {
			t.Fatal(err)
		}
		c := client.New(client.Options{URL: "ws://" + ln.Addr().String() + "/v1/sync", Credential: cred, Outbox: led, State: led, Logf: t.Logf})
		if err := c.Open(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return c.Status().Online })
		mine := append([]string{codes[0]}, codes[1+20*i:21+20*i]...)
		var recs []*terminal.Redemption
		for j, code := range mine {
			v, err := terminal.ParseCode(code)
			if err != nil {
				t.Fatal(err)
			}
			total := v.SpendFen + terminal.Fen(j*100)
			recs = append(recs, &terminal.Redemption{Kind: terminal.KindRedemption, At: noon.Add(time.Duration(j) * time.Minute), Code: code, Voucher: v,
				Items:    []terminal.Item{{SKU: "rice", Name: "大米", Category: "grocery", Qty: 1, UnitPriceFen: total}},
				TotalFen: total, EligibleFen: total, DiscountFen: v.OffFen, PayableFen: total - v.OffFen})
		}
		if err := led.CommitMany(ctx, recs); err != nil {
			t.Fatal(err)
		}
		c.SyncNow()
		waitFor(t, func() bool { return led.Watermark() == uint64(len(recs)) })
		c.Close()
		if err := led.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
