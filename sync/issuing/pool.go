package issuing

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// poolColumns are the columns of voucherd pool (CONTRACT.md): per category,
// budget, released, claimed, redeemed, expired and returned to the pool
// (expired, returned and unclaimed), available.
var poolColumns = []string{"category", "budget", "released", "claimed", "redeemed", "expired", "returned", "unclaimed", "available"}

func poolRow(l *terminal.PoolLine) []string {
	return []string{l.Category.String(), l.BudgetFen.Plain(), l.ReleasedFen.Plain(), l.ClaimedFen.Plain(), l.RedeemedFen.Plain(),
		l.ExpiredFen.Plain(), l.ReturnedFen.Plain(), l.UnclaimedFen.Plain(), l.AvailableFen.Plain()}
}

// Write prints the pool as a table, csv or json.
func (p *Pool) Write(w io.Writer, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(append([]string{"round"}, poolColumns...))
		for i := range p.Lines {
			_ = cw.Write(append([]string{p.Lines[i].Round}, poolRow(&p.Lines[i])...))
		}
		cw.Flush()
		return cw.Error()
	case "table":
	default:
		return fmt.Errorf("format %q: want table, csv or json", format)
	}
	round := p.Round
	if round == "" {
		round = "none"
	}
	fmt.Fprintf(w, "pool of round %s (day %s, at %s UTC+8), yuan of subsidy\n", round, p.Day, p.Now.In(terminal.Zone).Format(time.DateTime))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	for _, c := range poolColumns {
		fmt.Fprint(tw, c, "\t")
	}
	fmt.Fprintln(tw)
	for i := range p.Lines {
		for _, c := range poolRow(&p.Lines[i]) {
			fmt.Fprint(tw, c, "\t")
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range p.Moves {
		fmt.Fprintf(w, "moved %s from %s to %s at %s: %s\n", m.AmountFen, m.From, m.To, m.At.In(terminal.Zone).Format(time.DateTime), strconv.Quote(m.Reason))
	}
	return nil
}
