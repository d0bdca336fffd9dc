package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/till"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// Step is one step of the demo day with what was expected and what happened.
type Step struct {
	N      int
	Title  string
	Expect string
	Got    string
	OK     bool
}

// day plays the demo day on a stack of two terminals.
type day struct {
	s     *Stack
	out   io.Writer
	a, b  *Terminal
	wa    *Watcher
	wb    *Watcher
	steps []Step
	// r1 is the first redemption, refunded at the end.
	r1 string
	// wallet is the voucher a wallet user claimed at the drop.
	wallet issuing.Issued
}

const verdictWait = 5 * time.Second

func yuan(y int64) terminal.Fen { return terminal.Yuan(y) }

func grocery(sku, name string, qty int64, price terminal.Fen) terminal.Item {
	return terminal.Item{SKU: sku, Name: name, Category: "grocery", Qty: qty, UnitPriceFen: price}
}

// PlayDay plays the scripted day at the stack's first two terminals,
// printing each step to out. It returns the steps; every step's OK says
// whether it went as expected.
func (s *Stack) PlayDay(ctx context.Context, out io.Writer) ([]Step, error) {
	if len(s.Terminals) < 2 {
		return nil, errors.New("the demo day needs two terminals")
	}
	d := &day{s: s, out: out, a: s.Terminals[0], b: s.Terminals[1]}
	var err error
	if d.wa, err = d.a.Watch(); err != nil {
		return nil, err
	}
	defer d.wa.Close()
	if d.wb, err = d.b.Watch(); err != nil {
		return nil, err
	}
	defer d.wb.Close()
	// Minutes on the demo's clock before each step: the split bill comes
	// inside its 30-minute window, the rest spreads over the day.
	gaps := []time.Duration{0, 0, 0, 7, 6, 9, 40, 25, 35, 20, 15, 30, 45}
	for i, f := range []func(context.Context) error{
		d.drop, d.walletRedeem, d.approved, d.love, d.belowThreshold, d.splitBill, d.emptyBasket, d.storedValue,
		d.expired, d.categoryMismatch, d.noCheckout, d.outage, d.refund,
	} {
		if s.advance != nil {
			s.advance(gaps[i] * time.Minute)
		}
		if err := f(ctx); err != nil {
			d.record("(aborted)", "the script to go on", "error: "+err.Error(), false)
			return d.steps, err
		}
	}
	return d.steps, nil
}

func (d *day) record(title, expect, got string, ok bool) {
	st := Step{N: len(d.steps) + 1, Title: title, Expect: expect, Got: got, OK: ok}
	d.steps = append(d.steps, st)
	mark := "✓"
	if !ok {
		mark = "✗ UNEXPECTED"
	}
	fmt.Fprintf(d.out, "%2d. %s\n    预期 expected: %s\n    实际 actual:   %s   %s\n", st.N, title, expect, got, mark)
}

// scan opens a checkout for items on t, scans code through t's simulated
// scanner and returns the verdict on t's events stream.
func (d *day) scan(ctx context.Context, t *Terminal, w *Watcher, code string, items ...terminal.Item) (terminal.Checkout, terminal.LaneEvent, error) {
	co, err := t.Open(ctx, items...)
	if err != nil {
		return co, terminal.LaneEvent{}, fmt.Errorf("open checkout: %w", err)
	}
	if err := t.Sim.Scan(code); err != nil {
		return co, terminal.LaneEvent{}, fmt.Errorf("scan: %w", err)
	}
	ev, err := w.Verdict(verdictWait)
	return co, ev, err
}

func describe(ev terminal.LaneEvent) string {
	if ev.Kind == terminal.EventDeclined && ev.Decline != nil {
		return fmt.Sprintf("declined %s「%s」", ev.Decline.Code, ev.Decline.Message)
	}
	if ev.Kind != terminal.EventApproved || ev.Checkout == nil {
		return string(ev.Kind)
	}
	how := "offline"
	if ev.Online {
		how = "online"
	}
	return fmt.Sprintf("approved %s, discount %s, pays %s", how, ev.Checkout.DiscountFen, ev.Checkout.PayableFen)
}

// decline plays a step whose voucher must be declined with code, then
// cancels the checkout.
func (d *day) decline(ctx context.Context, title string, code string, want terminal.Code, items ...terminal.Item) error {
	co, ev, err := d.scan(ctx, d.a, d.wa, code, items...)
	if err != nil {
		return err
	}
	ok := ev.Kind == terminal.EventDeclined && ev.Decline != nil && ev.Decline.Code == want
	d.record(title, "declined "+string(want), describe(ev), ok)
	return d.a.Cancel(ctx, co.ID)
}

func (d *day) today(ctx context.Context, c terminal.Category, spend, off int64, holder uint64) (string, error) {
	return d.s.Today(ctx, c, yuan(spend), yuan(off), terminal.HolderID(holder))
}

func (d *day) approved(ctx context.Context) error {
	code, err := d.today(ctx, terminal.Retail, 200, 40, 0xA001)
	if err != nil {
		return err
	}
	co, ev, err := d.scan(ctx, d.a, d.wa, code, grocery("rice", "东北大米 10kg", 2, yuan(100)))
	if err != nil {
		return err
	}
	ok := ev.Kind == terminal.EventApproved && ev.Online && ev.Checkout.PayableFen == yuan(160)
	done, err := d.a.Complete(ctx, co.ID)
	if err != nil {
		return err
	}
	d.r1 = done.RedemptionID
	d.record("零售券满200减40，购物¥200，联网核销 / retail 200−40 on a ¥200 basket, online",
		"approved online, discount ¥40.00, pays ¥160.00, redemption committed",
		describe(ev)+", redemption "+done.RedemptionID, ok && done.RedemptionID != "")
	return nil
}

func (d *day) love(ctx context.Context) error {
	code, err := d.today(ctx, terminal.Love, 0, 100, 0xA002)
	if err != nil {
		return err
	}
	co, ev, err := d.scan(ctx, d.a, d.wa, code, grocery("oil", "花生油 5L", 1, 5880))
	if err != nil {
		return err
	}
	ok := ev.Kind == terminal.EventApproved && ev.Checkout.DiscountFen == 5879 && ev.Checkout.Warning != ""
	if _, err := d.a.Complete(ctx, co.ID); err != nil {
		return err
	}
	d.record("爱心券面值¥100，购物¥58.80 / love voucher ¥100 on a ¥58.80 basket",
		"approved, discount ¥58.79 (customer pays ¥0.01), cashier warned of the forfeited rest",
		describe(ev), ok)
	return nil
}

func (d *day) belowThreshold(ctx context.Context) error {
	code, err := d.today(ctx, terminal.Retail, 200, 40, 0xA003)
	if err != nil {
		return err
	}
	return d.decline(ctx, "满200减40，购物仅¥150 / 200−40 voucher on a ¥150 basket", code, terminal.BelowThreshold,
		grocery("tea", "绿茶礼盒", 1, yuan(150)))
}

func (d *day) splitBill(ctx context.Context) error {
	code, err := d.today(ctx, terminal.Retail, 50, 10, 0xA001) // the holder of the first sale
	if err != nil {
		return err
	}
	return d.decline(ctx, "同一顾客几分钟后再用券（拆单）/ the first customer again minutes later (split bill)", code,
		terminal.SplitBill, grocery("soap", "洗衣皂", 6, yuan(10)))
}

func (d *day) emptyBasket(ctx context.Context) error {
	code, err := d.today(ctx, terminal.Retail, 50, 10, 0xA005)
	if err != nil {
		return err
	}
	// A till cannot open a checkout with no lines at all (400): the empty
	// sale is one line of nothing to pay.
	return d.decline(ctx, "空单核券 / a voucher on an empty basket (one ¥0 line)", code, terminal.EmptyTransaction,
		grocery("bag", "空单", 1, 0))
}

func (d *day) storedValue(ctx context.Context) error {
	code, err := d.today(ctx, terminal.Retail, 200, 40, 0xA006)
	if err != nil {
		return err
	}
	return d.decline(ctx, "用券充值储值卡 / a voucher on a stored-value card top-up", code, terminal.EmptyTransaction,
		terminal.Item{SKU: "card500", Name: "储值卡充值", Category: terminal.StoredValueCard, Qty: 1, UnitPriceFen: yuan(500)})
}

func (d *day) expired(ctx context.Context) error {
	from, until := terminal.ClaimDay(d.s.now().AddDate(0, 0, -1))
	code, err := d.s.Mint(ctx, terminal.Retail, yuan(50), yuan(10), 0xA007, from, until)
	if err != nil {
		return err
	}
	return d.decline(ctx, "昨天的券 / yesterday's voucher", code, terminal.Expired, grocery("rice", "东北大米 10kg", 1, yuan(100)))
}

func (d *day) categoryMismatch(ctx context.Context) error {
	code, err := d.today(ctx, terminal.Fuel, 100, 20, 0xA008)
	if err != nil {
		return err
	}
	return d.decline(ctx, "加油券在超市使用 / a fuel voucher at a retail shop", code, terminal.CategoryMismatch,
		grocery("rice", "东北大米 10kg", 2, yuan(100)))
}

func (d *day) noCheckout(ctx context.Context) error {
	code, err := d.today(ctx, terminal.Retail, 50, 10, 0xA009)
	if err != nil {
		return err
	}
	if err := d.a.Sim.Scan(code); err != nil {
		return err
	}
	ev, err := d.wa.Verdict(verdictWait)
	if err != nil {
		return err
	}
	d.record("未开单先扫券 / a scan with no checkout open", "declined no_open_checkout", describe(ev),
		ev.Decline != nil && ev.Decline.Code == terminal.NoOpenCheckout)
	return nil
}

// outage: both terminals lose the network; A redeems offline; the same
// voucher is redeemed on B and then A; the links come back, B syncs first
// and A's record is a conflict.
func (d *day) outage(ctx context.Context) error {
	d.a.Net.Down()
	d.b.Net.Down()
	errA, errB := d.a.WaitOffline(ctx, 5*time.Second), d.b.WaitOffline(ctx, 5*time.Second)
	d.record("断网 / the network goes down at both tills", "both terminals offline",
		fmt.Sprintf("T1 online=%v, T2 online=%v", d.a.Agent.Online(), d.b.Agent.Online()), errA == nil && errB == nil)

	code, err := d.today(ctx, terminal.Retail, 50, 10, 0xA00A)
	if err != nil {
		return err
	}
	co, ev, err := d.scan(ctx, d.a, d.wa, code, grocery("milk", "纯牛奶 整箱", 2, yuan(30)))
	if err != nil {
		return err
	}
	if _, err := d.a.Complete(ctx, co.ID); err != nil {
		return err
	}
	n, _, _ := d.a.Agent.Ledger().Unsynced(ctx)
	d.record("离线核销满50减10 / offline: retail 50−10 on a ¥60 basket",
		"approved offline, queued for sync", fmt.Sprintf("%s, %d record(s) queued", describe(ev), n),
		ev.Kind == terminal.EventApproved && !ev.Online && n == 1)

	shared, err := d.today(ctx, terminal.Retail, 200, 40, 0xA00B)
	if err != nil {
		return err
	}
	coB, evB, err := d.scan(ctx, d.b, d.wb, shared, grocery("wine", "汾酒", 1, yuan(218)))
	if err != nil {
		return err
	}
	if _, err := d.b.Complete(ctx, coB.ID); err != nil {
		return err
	}
	coA, evA, err := d.scan(ctx, d.a, d.wa, shared, grocery("wine", "汾酒", 1, yuan(218)))
	if err != nil {
		return err
	}
	doneA, err := d.a.Complete(ctx, coA.ID)
	if err != nil {
		return err
	}
	d.record("同一张券离线时在两台收银机各用一次 / the same voucher at both tills while offline",
		"both approved offline (neither can know)", "T2: "+describe(evB)+"; T1: "+describe(evA),
		evA.Kind == terminal.EventApproved && evB.Kind == terminal.EventApproved && !evA.Online && !evB.Online)

	d.b.Net.Up()
	errB = d.b.WaitSynced(ctx, 10*time.Second)
	d.a.Net.Up()
	errA = d.a.WaitSynced(ctx, 10*time.Second)
	entry, err := d.a.Agent.Ledger().Entry(ctx, doneA.RedemptionID)
	if err != nil {
		return err
	}
	conflicts, err := d.s.Hub.Conflicts(ctx)
	if err != nil {
		return err
	}
	na, _, _ := d.a.Agent.Ledger().Unsynced(ctx)
	nb, _, _ := d.b.Agent.Ledger().Unsynced(ctx)
	d.record("恢复联网并同步 / the network is back; both sync (T2 first)",
		"queues empty; T1's second use of the voucher is a conflict for the auditors",
		fmt.Sprintf("unsynced T1=%d T2=%d; T1 %s is %s (%s); server conflicts: %d", na, nb, doneA.RedemptionID, entry.Sync, entry.Detail, len(conflicts)),
		errA == nil && errB == nil && na == 0 && nb == 0 && entry.Sync == terminal.Conflict && len(conflicts) == 1)
	return nil
}

func (d *day) refund(ctx context.Context) error {
	var ans till.RefundAnswer
	if err := d.a.Call(ctx, "POST", "/api/v1/redemptions/"+d.r1+"/refund", nil, &ans); err != nil {
		return err
	}
	err := d.a.WaitSynced(ctx, 10*time.Second)
	d.record("整单退货 / the first sale is returned whole",
		"refund ¥160.00, voucher returned to the customer, synced",
		fmt.Sprintf("refund %s, voucher returned %v, record %s", ans.RefundFen, ans.VoucherReturned, ans.RefundID),
		ans.RefundFen == yuan(160) && ans.VoucherReturned && err == nil)
	return nil
}

// Report prints terminal t's report of today.
func (s *Stack) Report(ctx context.Context, t *Terminal, w io.Writer) error {
	rep, err := till.DayReport(ctx, t.Agent.Ledger(), s.now())
	if err != nil {
		return err
	}
	return till.WriteReport(w, &rep, till.FormatTable)
}
