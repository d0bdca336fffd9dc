package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/county"
	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

// countyHandler mounts the county's console (/console/) and the admin API
// of the programme report and audit sample (/admin/county/) beside next.
// iss is the issuing side, nil when the server runs without it.
func countyHandler(h *hub.Hub, iss *issuing.Service, next http.Handler) http.Handler {
	src := county.HubSource{H: h}
	con := county.NewConsole(src, h, h, h.Programme(), h.AdminToken(), h.Now)
	api := &county.API{Source: src, Log: h, Programme: h.Programme(), Now: h.Now}
	if iss != nil {
		api.Pool = iss
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", con.Handler())
	mux.Handle("/admin/county/", h.AdminAuth(api.Handler()))
	mux.Handle("/", next)
	return mux
}

// nowFunc is the commands' clock (the default -until of a report).
var nowFunc = time.Now

// countyView is where a county command reads: a local hub or a running server.
type countyView struct {
	local  *hub.Hub
	pool   county.Pooler
	remote county.Getter
}

func (a *adminFlags) openCounty() (countyView, func(), error) {
	if a.ledger.data != "" && a.server == "" && a.ledger.db == "" {
		// The embedded ledger holds the issuing side too: one open of the file.
		quiet := func(string, ...any) {}
		h, svc, err := boltstore.OpenServer(a.ledger.data, hub.Options{Logf: quiet}, issuing.Options{Logf: quiet})
		if err != nil {
			return countyView{}, nil, err
		}
		return countyView{local: h, pool: svc}, func() { _ = svc.Close(); _ = h.Close() }, nil
	}
	adm, done, err := a.open()
	if err != nil {
		return countyView{}, nil, err
	}
	switch v := adm.(type) {
	case *hub.Hub:
		return countyView{local: v}, done, nil
	case county.Getter:
		return countyView{remote: v}, done, nil
	}
	done()
	return countyView{}, nil, fmt.Errorf("%s: this server connection cannot give the county's figures", a.cmd)
}

func cmdReportProgramme(args []string, stdout io.Writer) error {
	fs, a := adminCommand("report programme")
	from := fs.String("from", "", "first day YYYY-MM-DD (default: the programme's first day)")
	until := fs.String("until", "", "last day YYYY-MM-DD (default: today, UTC+8)")
	format := fs.String("format", "table", "table, csv, json or html")
	out := fs.String("out", "", "write to FILE instead of standard output")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch *format {
	case county.FormatTable, county.FormatCSV, county.FormatJSON, county.FormatHTML:
	default:
		return usagef("report programme: -format %q: want table, csv, json or html", *format)
	}
	prog := terminal.Qinshui2022()
	f, u, err := county.ParsePeriod(prog, *from, *until, nowFunc())
	if err != nil {
		return usagef("report programme: %v", err)
	}
	v, done, err := a.openCounty()
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()
	var rep *county.Report
	if v.local != nil {
		rep, err = county.ProgrammeReport(ctx, county.HubSource{H: v.local}, v.pool, v.local.Programme(), f, u, v.local.Now())
	} else {
		rep, err = county.RemoteProgramme(ctx, v.remote, f, u)
	}
	if err != nil {
		return err
	}
	if *out == "" {
		return rep.Write(stdout, *format)
	}
	file, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := rep.Write(file, *format); err != nil {
		_ = file.Close()
		return err
	}
	return file.Close()
}

func cmdAuditSample(args []string, stdout io.Writer) error {
	fs, a := adminCommand("audit sample")
	from := fs.String("from", "", "first day YYYY-MM-DD")
	until := fs.String("until", "", "last day YYYY-MM-DD")
	rate := fs.Float64("rate", 0.10, "least share of the period's records to sample (0 < rate ≤ 1)")
	seed := fs.String("seed", "", "seed of the selection: the same seed draws the same sample")
	out := fs.String("out", "", "directory to write the sample to")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("audit sample", [2]string{"from", *from}, [2]string{"until", *until}, [2]string{"seed", *seed}, [2]string{"out", *out}); err != nil {
		return err
	}
	if !(*rate > 0 && *rate <= 1) {
		return usagef("audit sample: -rate %v: want a share in (0, 1]", *rate)
	}
	bp := int(math.Ceil(*rate*10000 - 1e-9))
	f, u, err := county.ParsePeriod(terminal.Qinshui2022(), *from, *until, nowFunc())
	if err != nil {
		return usagef("audit sample: %v", err)
	}
	v, done, err := a.openCounty()
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()
	var b *county.Bundle
	if v.local != nil {
		b, err = county.Sample(ctx, county.HubSource{H: v.local}, v.local.Programme(), f, u, bp, *seed)
	} else {
		b, err = county.RemoteSample(ctx, v.remote, f, u, bp, *seed)
	}
	if err != nil {
		return err
	}
	if err := b.WriteDir(*out); err != nil {
		return err
	}
	m := b.Manifest
	fmt.Fprintf(stdout, "sampled %d of %d records (%d required at %d.%02d%%) into %s\n", m.Selected, m.Population,
		m.Required, m.RateBP/100, m.RateBP%100, *out)
	return nil
}

func cmdAuditVerify(args []string, stdout io.Writer) error {
	fs := newFlags("audit verify")
	if err := fs.Parse(args); err != nil {
		return parse(fs, args)
	}
	if fs.NArg() != 1 {
		return usagef("audit verify: want the sample's directory: voucherd audit verify DIR")
	}
	n, faults, err := county.Verify(fs.Arg(0))
	if err != nil {
		return err
	}
	for _, f := range faults {
		fmt.Fprintf(stdout, "FAIL %s\n", f)
	}
	if len(faults) > 0 {
		return fmt.Errorf("audit verify: %d faults in %d records", len(faults), n)
	}
	fmt.Fprintf(stdout, "ok: %d records verified (hash, terminal signature, chain, voucher code, decision)\n", n)
	return nil
}

// merchantAction is the admin log's entry of a block or unblock from the
// command line.
func merchantAction(block bool, id, who, reason string) hub.Action {
	what := county.WhatUnblock
	if block {
		what = county.WhatBlock
	}
	if who == "" {
		who = "?"
	}
	if reason == "" {
		reason = "命令行操作,未填写原因 / from the command line, no reason given"
	}
	return hub.Action{Who: who + " (命令行 command line)", What: what, Target: id, Why: reason}
}

// logAction appends a to the admin log of the server adm acts on.
func logAction(adm hub.Admin, a hub.Action) error {
	switch v := adm.(type) {
	case *hub.Hub:
		return v.AddAction(context.Background(), a)
	case *hub.Remote:
		return v.Post(context.Background(), "/admin/county/actions", &a, nil)
	}
	return fmt.Errorf("no admin log on %T", adm)
}
