package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// ClaimError is a refused claim as the claim API answers it.
type ClaimError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *ClaimError) Error() string { return fmt.Sprintf("%d %s %s", e.Status, e.Code, e.Message) }

// Claim claims a voucher for a platform user through the claim API, as the
// wallet does (POST /v1/claims); a refusal is a *ClaimError.
func (s *Stack) Claim(ctx context.Context, holder string, c terminal.Category, spend, off terminal.Fen, key string) (issuing.Issued, error) {
	var out issuing.Issued
	body, _ := json.Marshal(map[string]any{"holder": holder, "category": c, "spend_fen": spend, "off_fen": off})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.HubURL+"/v1/claims", bytes.NewReader(body))
	if err != nil {
		return out, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return out, err
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error ClaimError `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		e.Error.Status = resp.StatusCode
		return out, &e.Error
	}
	return out, json.Unmarshal(b, &out)
}

// OpenDay adds a round holding the stack's day (the built-in programme's
// round ran in 2022) and releases the day's drops at 10:00.
func (s *Stack) OpenDay(ctx context.Context, drops ...issuing.DropRequest) error {
	today := terminal.Day(s.now()).Format(time.DateOnly)
	y := terminal.Yuan
	_, err := s.Issuing.AddRound(ctx, terminal.IssueRound{ID: "demo-" + today, From: today, Until: today,
		BudgetFen: map[terminal.Category]terminal.Fen{terminal.Retail: y(20_000), terminal.Fuel: y(10_000), terminal.Appliance: y(30_000), terminal.Hospitality: y(10_000)}})
	if err != nil {
		return err
	}
	for _, d := range drops {
		d.Day = today
		if _, err := s.Issuing.AddDrop(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// Night moves the stack's clock past midnight and runs the expiry: the
// day's unredeemed vouchers go back to the pool. It returns how many expired.
func (s *Stack) Night(ctx context.Context) (int, error) {
	if s.advance != nil {
		s.advance(terminal.DayEnd(s.now()).Sub(s.now()) + time.Minute)
	}
	return s.Issuing.Sweep(ctx)
}

// The wallet's users of the demo day (platform user ids).
const (
	walletUser1 = "ysf-62220001"
	walletUser2 = "ysf-62220002"
)

// drop releases the day's vouchers and lets two wallet users claim.
func (d *day) drop(ctx context.Context) error {
	y := terminal.Yuan
	err := d.s.OpenDay(ctx,
		issuing.DropRequest{Category: terminal.Retail, SpendFen: y(200), OffFen: y(40), Count: 100},
		issuing.DropRequest{Category: terminal.Retail, SpendFen: y(50), OffFen: y(10), Count: 50})
	got := "released"
	if err != nil {
		got = err.Error()
	}
	d.record("10:00放券：零售券满200减40 100张、满50减10 50张 / the 10:00 drop: 100 × retail 200−40, 50 × 50−10",
		"released within the day's budget", got, err == nil)
	if err != nil {
		return nil
	}
	v1, err1 := d.s.Claim(ctx, walletUser1, terminal.Retail, y(200), y(40), "demo-1")
	v2, err2 := d.s.Claim(ctx, walletUser2, terminal.Retail, y(50), y(10), "demo-2")
	_, err3 := d.s.Claim(ctx, walletUser1, terminal.Retail, y(200), y(40), "demo-3")
	ce, _ := err3.(*ClaimError)
	d.wallet = v1
	d.record("钱包抢券：两位用户各领一张，第一位再领同面额 / wallet claims: two users claim, the first asks for the same voucher again",
		"two vouchers valid until 24:00; the repeat refused denomination_limit",
		fmt.Sprintf("%s %s valid through %s; %s %s; repeat: %v", v1.VoucherID, v1.Name, v1.ValidUntil.Add(-time.Second).Format("15:04:05"), v2.VoucherID, v2.Name, err3),
		err1 == nil && err2 == nil && ce != nil && ce.Code == string(terminal.DenominationLimit) && v1.ValidUntil.Equal(terminal.DayEnd(d.s.now())))
	return nil
}

// walletRedeem redeems the voucher claimed in the wallet at the second till.
func (d *day) walletRedeem(ctx context.Context) error {
	if d.wallet.Code == "" {
		d.record("钱包里的券到店核销 / the wallet's voucher at a till", "approved", "no voucher was claimed", false)
		return nil
	}
	co, ev, err := d.scan(ctx, d.b, d.wb, d.wallet.Code, grocery("rice", "东北大米 10kg", 2, yuan(100)))
	if err != nil {
		return err
	}
	if _, err := d.b.Complete(ctx, co.ID); err != nil {
		return err
	}
	err = d.b.WaitSynced(ctx, 10*time.Second)
	st := terminal.ClaimStatus("?")
	if vs, herr := d.s.Issuing.Holdings(ctx, walletUser1); herr == nil && len(vs) == 1 {
		st = vs[0].Status
	}
	d.record("钱包里的券在2号收银台核销 / the wallet's 200−40 voucher redeemed at till T2",
		"approved online, discount ¥40.00; the wallet shows it redeemed", describe(ev)+", wallet: "+string(st),
		err == nil && ev.Kind == terminal.EventApproved && ev.Checkout.DiscountFen == yuan(40) && st == terminal.StatusRedeemed)
	return nil
}
