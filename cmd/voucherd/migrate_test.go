package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestVoucherd_Migrate fills an embedded ledger with a day of synced sales
// from two terminals (one voucher on both: a conflict) and of issuing (a
// round added, a budget move, a drop, claims, some redeemed, love
// vouchers), migrates it into PostgreSQL, and compares voucherd report,
// pool and round list before and after.
func TestVoucherd_Migrate(t *testing.T) {
	dbURL := pgtest.DB(t)
	dir := t.TempDir()
	day := time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)
	fillDay(t, dir, day)
	keyFile := filepath.Join(t.TempDir(), "issuing.key")
	const d = "2022-10-01"
	// Every view compared before and after, without its ledger flags.
	views := [][]string{{"round", "list"}}
	for _, f := range []string{"json", "csv", "table"} {
		views = append(views, []string{"report", "-day", d, "-format", f}, []string{"pool", "-day", d, "-format", f})
	}
	views = append(views, []string{"pool", "-day", "2022-10-10", "-format", "json"})
	var before []string
	for _, v := range views {
		before = append(before, untimed(voucherd(t, 0, append(v, "-data", dir)...)))
	}
	// The day's issuing is in the pool being compared: 12 claimed of ¥40,
	// 5 redeemed, the rest expired since; ¥1,000 of love vouchers.
	for _, want := range []string{`"claimed_fen": 48000`, `"redeemed_fen": 20000`, `"expired_fen": 28000`, `"claimed_fen": 100000`, `"from": "fuel"`} {
		if !strings.Contains(before[2], want) {
			t.Fatalf("pool before migrate lacks %s:\n%s", want, before[2])
		}
	}
	if !strings.Contains(before[1], `"conflicts": [`) || strings.Contains(before[1], `"conflicts": []`) {
		t.Fatalf("the day has no conflict to carry over: %s", before[0])
	}
	// The holders' memos (kept in memory and a log by the embedded
	// ledger, not in its memos bucket) are copied too.
	src, err := boltstore.Open(dir, boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	holderMemos := 0
	err = src.EachMemo(context.Background(), func(k string, _ []byte) error {
		if strings.HasPrefix(k, hub.ExpiringMemoPrefix) {
			holderMemos++
		}
		return nil
	})
	src.Close()
	if err != nil || holderMemos == 0 {
		t.Fatalf("the day's ledger has %d holder memos (%v)", holderMemos, err)
	}
	out := voucherd(t, 0, "migrate", "-data", dir, "-db", dbURL, "-key-file", keyFile)
	if !strings.Contains(out, "checked:") {
		t.Fatalf("migrate: %s", out)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	var copied int
	err = conn.QueryRow(context.Background(), "SELECT count(*) FROM memos WHERE starts_with(key, $1)", hub.ExpiringMemoPrefix).Scan(&copied)
	conn.Close(context.Background())
	if err != nil || copied != holderMemos {
		t.Fatalf("%d holder memos in the database (%v), want the ledger's %d", copied, err, holderMemos)
	}
	for i, v := range views {
		if after := untimed(voucherd(t, 0, append(v, "-db", dbURL, "-key-file", keyFile)...)); after != before[i] {
			t.Errorf("%s after migrate:\n%s\nbefore:\n%s", strings.Join(v, " "), after, before[i])
		}
	}
	if msg := voucherdErr(t, "migrate", "-data", dir, "-db", dbURL, "-key-file", keyFile); !strings.Contains(msg, "not empty") {
		t.Errorf("second migrate: %q", msg)
	}
	voucherd(t, 0, "check", "-data", dir) // left untouched and whole
}

// untimed blanks the time a pool was read at, which differs between runs.
func untimed(out string) string {
	out = regexp.MustCompile(`"now": "[^"]*"`).ReplaceAllString(out, `"now": ""`)
	return regexp.MustCompile(`, at [0-9-]+ [0-9:]+ UTC\+8\)`).ReplaceAllString(out, ", at)")
}

// fillDay runs an embedded hub and its issuing side on dir at noon of day
// (in the programme's first round): a round added, a budget move, a drop
// of 12 claimed by 12 people, love vouchers for one, and two terminals that
// sync a day of sales, the first minted voucher sold on both, 5 of the
// claimed ones on the first.
func fillDay(t *testing.T, dir string, day time.Time) {
	noon := day.Add(12 * time.Hour)
	var clock atomic.Int64 // the server's time: noon for the claims, the evening for the sync
	clock.Store(noon.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).In(terminal.Zone) }
	ctx := context.Background()
	h, svc, err := boltstore.OpenServer(dir, hub.Options{Create: true, Now: now, Logf: t.Logf}, issuing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	defer svc.Close()
	if _, err := svc.AddRound(ctx, terminal.IssueRound{ID: "2", From: "2022-10-09", Until: "2022-10-15",
		BudgetFen: map[terminal.Category]terminal.Fen{terminal.Retail: terminal.Yuan(100_000)}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.MoveBudget(ctx, terminal.BudgetMove{Round: "1", From: terminal.Fuel, To: terminal.Retail, AmountFen: terminal.Yuan(100), Reason: "fuel under-used"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddDrop(ctx, issuing.DropRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40),
		Count: 12, Day: day.Format(time.DateOnly), At: "10:00"}); err != nil {
		t.Fatal(err)
	}
	var claimed []string
	for i := range 12 {
		iv, err := svc.Claim(ctx, issuing.ClaimRequest{Holder: fmt.Sprintf("user%02d", i), Category: terminal.Retail,
			SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40), Key: fmt.Sprintf("k%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		claimed = append(claimed, iv.Code)
	}
	if _, err := svc.AddLove(ctx, "grace", 0); err != nil {
		t.Fatal(err)
	}
	sales := noon.Add(30 * time.Minute) // the terminals connect, then sell, then sync
	clock.Store(sales.UnixNano())
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
		if i == 0 {
			mine = append(mine, claimed[:5]...)
		}
		var recs []*terminal.Redemption
		for j, code := range mine {
			v, err := terminal.ParseCode(code)
			if err != nil {
				t.Fatal(err)
			}
			total := v.SpendFen + terminal.Fen(j*100)
			recs = append(recs, &terminal.Redemption{Kind: terminal.KindRedemption, At: sales.Add(time.Duration(j+1) * 10 * time.Second), Code: code, Voucher: v,
				Items:    []terminal.Item{{SKU: "rice", Name: "大米", Category: "grocery", Qty: 1, UnitPriceFen: total}},
				TotalFen: total, EligibleFen: total, DiscountFen: v.OffFen, PayableFen: total - v.OffFen})
		}
		// Sales dated after the connection (else backdated) and before the
		// server's clock when they sync (else future dated).
		if err := led.CommitMany(ctx, recs); err != nil {
			t.Fatal(err)
		}
		clock.Store(sales.Add(time.Hour).UnixNano())
		c.SyncNow()
		waitFor(t, func() bool { return led.Watermark() == uint64(len(recs)) })
		c.Close()
		if err := led.Close(); err != nil {
			t.Fatal(err)
		}
		clock.Store(sales.UnixNano())
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
