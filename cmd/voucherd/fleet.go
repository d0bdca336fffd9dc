package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// cmdTerminalList prints the fleet view: every terminal, when it last
// synced, its queue and offline exposure, its agent version and any fault.
func cmdTerminalList(args []string, stdout io.Writer) error {
	fs, a := adminCommand("terminal list")
	format := fs.String("format", "table", "table or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("terminal list: -format %q: want table or json", *format)
	}
	adm, done, err := a.open()
	if err != nil {
		return err
	}
	defer done()
	ts, err := adm.Terminals(context.Background())
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ts)
	}
	return writeFleet(stdout, ts, time.Now())
}

// writeFleet prints ts as a table, ages counted back from now.
func writeFleet(w io.Writer, ts []hub.TerminalStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TERMINAL\tMERCHANT\tSTATE\tLAST SYNC\tQUEUE\tEXPOSURE ¥\tAGENT\tFAULT")
	for _, t := range ts {
		state := "offline"
		switch {
		case t.Revoked:
			state = "revoked"
		case t.Connected:
			state = "online"
		}
		last := "never seen here"
		if !t.LastSync.IsZero() {
			last = t.LastSync.In(terminal.Zone).Format("01-02 15:04") + " (" + age(now.Sub(t.LastSync)) + " ago)"
		}
		fault := t.Fault
		if t.Alarm != "" {
			if fault != "" {
				fault += "; "
			}
			fault += "server: " + t.Alarm
		}
		if fault == "" {
			fault = "-"
		}
		agent := t.Agent
		if agent == "" {
			agent = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", t.ID, t.MerchantID, state, last, t.QueueDepth,
			t.UnsyncedFen.Plain(), agent, fault)
	}
	return tw.Flush()
}

// age is d rounded for a person: 42s, 5m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
