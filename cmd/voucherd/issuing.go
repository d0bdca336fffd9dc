package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// openIssuing returns the issuing admin operations on the chosen server.
func (a *adminFlags) openIssuing() (issuing.Admin, func(), error) {
	cmd := a.cmd
	switch {
	case a.ledger.set() && a.server != "":
		return nil, nil, usagef("%s: give -data DIR, -db URL or -server URL, only one", cmd)
	case a.server != "":
		if !strings.HasPrefix(a.server, "http://") && !strings.HasPrefix(a.server, "https://") {
			return nil, nil, usagef("%s: -server wants an http:// or https:// URL, got %q", cmd, a.server)
		}
		return &issuing.Remote{URL: a.server, Token: a.token}, func() {}, nil
	case a.ledger.set():
		if err := a.ledger.check(cmd); err != nil {
			return nil, nil, err
		}
		quiet := func(string, ...any) {}
		h, svc, err := a.ledger.openServer(context.Background(), hub.Options{Logf: quiet}, issuing.Options{Logf: quiet})
		if err != nil {
			return nil, nil, err
		}
		return svc, func() { _ = svc.Close(); _ = h.Close() }, nil
	}
	return nil, nil, usagef("%s: -data DIR, -db URL or -server URL is required", cmd)
}

func parseDayFlag(cmd, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return terminal.Day(now), nil
	}
	d, err := terminal.ParseDay(s)
	if err != nil {
		return d, usagef("%s: -day %q: want YYYY-MM-DD", cmd, s)
	}
	return d, nil
}

// parseBudget parses "retail=YUAN,fuel=YUAN,...".
func parseBudget(s string) (map[terminal.Category]terminal.Fen, error) {
	out := map[terminal.Category]terminal.Fen{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		c, err := terminal.ParseCategory(k)
		if !ok || err != nil || c == terminal.Love {
			return nil, usagef("round add: -budget %q: want retail=YUAN,fuel=YUAN,appliance=YUAN,hospitality=YUAN", s)
		}
		f, err := terminal.ParseYuan(v)
		if err != nil {
			return nil, usagef("round add: -budget: %v", err)
		}
		out[c] = f
	}
	return out, nil
}

func cmdRoundAdd(args []string, stdout io.Writer) error {
	fs, a := adminCommand("round add")
	id := fs.String("id", "", "round id")
	from := fs.String("from", "", "first day YYYY-MM-DD")
	until := fs.String("until", "", "last day YYYY-MM-DD")
	budget := fs.String("budget", "", "retail=YUAN,fuel=YUAN,appliance=YUAN,hospitality=YUAN")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("round add", [2]string{"id", *id}, [2]string{"from", *from}, [2]string{"until", *until}, [2]string{"budget", *budget}); err != nil {
		return err
	}
	for _, d := range []string{*from, *until} {
		if _, err := terminal.ParseDay(d); err != nil {
			return usagef("round add: %q: want YYYY-MM-DD", d)
		}
	}
	b, err := parseBudget(*budget)
	if err != nil {
		return err
	}
	adm, done, err := a.openIssuing()
	if err != nil {
		return err
	}
	defer done()
	r, err := adm.AddRound(context.Background(), terminal.IssueRound{ID: *id, From: *from, Until: *until, BudgetFen: b})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "round %s added (number %d, %s..%s, budget %s)\n", r.ID, r.Number, r.From, r.Until, r.TotalFen())
	return nil
}

func cmdRoundList(args []string, stdout io.Writer) error {
	fs, a := adminCommand("round list")
	if err := parse(fs, args); err != nil {
		return err
	}
	adm, done, err := a.openIssuing()
	if err != nil {
		return err
	}
	defer done()
	rs, err := adm.Rounds(context.Background())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "round\tnumber\tfrom\tuntil\tretail\tfuel\tappliance\thospitality\ttotal")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s", r.ID, r.Number, r.From, r.Until)
		for _, c := range terminal.ClaimCategories {
			fmt.Fprintf(tw, "\t%s", r.BudgetFen[c].Plain())
		}
		fmt.Fprintf(tw, "\t%s\n", r.TotalFen().Plain())
	}
	return tw.Flush()
}

func cmdDropAdd(args []string, stdout io.Writer) error {
	fs, a := adminCommand("drop add")
	cat := fs.String("category", "", "retail, fuel, appliance or hospitality")
	spend := fs.String("spend", "", "minimum spend in yuan")
	off := fs.String("off", "", "discount in yuan")
	count := fs.Int("count", 0, "how many vouchers")
	dayS := fs.String("day", "", "day YYYY-MM-DD (default today, UTC+8)")
	at := fs.String("at", "10:00", "release time HH:MM (UTC+8)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("drop add", [2]string{"category", *cat}, [2]string{"spend", *spend}, [2]string{"off", *off}); err != nil {
		return err
	}
	c, err := terminal.ParseCategory(*cat)
	if err != nil || c == terminal.Love {
		return usagef("drop add: -category %q: want retail, fuel, appliance or hospitality", *cat)
	}
	sp, err := terminal.ParseYuan(*spend)
	if err != nil {
		return usagef("drop add: -spend: %v", err)
	}
	of, err := terminal.ParseYuan(*off)
	if err != nil {
		return usagef("drop add: -off: %v", err)
	}
	if *count <= 0 {
		return usagef("drop add: -count %d: want a positive number", *count)
	}
	day, err := parseDayFlag("drop add", *dayS, time.Now())
	if err != nil {
		return err
	}
	if _, err := time.Parse("15:04", *at); err != nil {
		return usagef("drop add: -at %q: want HH:MM", *at)
	}
	adm, done, err := a.openIssuing()
	if err != nil {
		return err
	}
	defer done()
	d, err := adm.AddDrop(context.Background(), issuing.DropRequest{Category: c, SpendFen: sp, OffFen: of, Count: *count,
		Day: day.Format(time.DateOnly), At: *at})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "drop %d: %d × %s %s at %s (round %s, %s of subsidy)\n", d.ID, d.Count, d.Category, d.Denomination,
		d.At.In(terminal.Zone).Format("2006-01-02 15:04"), d.Round, d.ValueFen())
	return nil
}

func cmdLoveAdd(args []string, stdout io.Writer) error {
	fs, a := adminCommand("love add")
	holder := fs.String("holder", "", "the person's platform user id")
	value := fs.String("value", "1000", "value in yuan")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("love add", [2]string{"holder", *holder}); err != nil {
		return err
	}
	if err := terminal.CheckPlatformID(*holder); err != nil {
		return usagef("love add: -holder: %v", err)
	}
	v, err := terminal.ParseYuan(*value)
	if err != nil {
		return usagef("love add: -value: %v", err)
	}
	adm, done, err := a.openIssuing()
	if err != nil {
		return err
	}
	defer done()
	vs, err := adm.AddLove(context.Background(), *holder, v)
	if err != nil {
		return err
	}
	for _, iv := range vs {
		fmt.Fprintln(stdout, iv.Code)
	}
	return nil
}

func cmdPool(args []string, stdout io.Writer) error {
	fs, a := adminCommand("pool")
	dayS := fs.String("day", "", "day YYYY-MM-DD (default today, UTC+8): the round holding it")
	format := fs.String("format", "table", "table, csv or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return usagef("pool: -format %q: want table, csv or json", *format)
	}
	day, err := parseDayFlag("pool", *dayS, time.Now())
	if err != nil {
		return err
	}
	adm, done, err := a.openIssuing()
	if err != nil {
		return err
	}
	defer done()
	p, err := adm.Pool(context.Background(), day)
	if err != nil {
		return err
	}
	return p.Write(stdout, *format)
}

func cmdBudgetMove(args []string, stdout io.Writer) error {
	fs, a := adminCommand("budget move")
	round := fs.String("round", "", "round id")
	from := fs.String("from", "", "category the budget leaves")
	to := fs.String("to", "", "category the budget goes to")
	amount := fs.String("amount", "", "yuan")
	reason := fs.String("reason", "", "why (recorded)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("budget move", [2]string{"round", *round}, [2]string{"from", *from}, [2]string{"to", *to},
		[2]string{"amount", *amount}, [2]string{"reason", *reason}); err != nil {
		return err
	}
	cf, err1 := terminal.ParseCategory(*from)
	ct, err2 := terminal.ParseCategory(*to)
	if err1 != nil || err2 != nil {
		return usagef("budget move: -from/-to: want retail, fuel, appliance or hospitality")
	}
	amt, err := terminal.ParseYuan(*amount)
	if err != nil {
		return usagef("budget move: -amount: %v", err)
	}
	adm, done, err := a.openIssuing()
	if err != nil {
		return err
	}
	defer done()
	if err := adm.MoveBudget(context.Background(), terminal.BudgetMove{Round: *round, From: cf, To: ct, AmountFen: amt, Reason: *reason}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "moved %s of round %s from %s to %s\n", amt, *round, cf, ct)
	return nil
}
