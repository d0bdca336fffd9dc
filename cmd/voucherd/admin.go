package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/voucherpos/voucherpos/drivers/qrimage"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// adminFlags are the flags that choose where an admin command acts.
type adminFlags struct {
	cmd           string
	ledger        ledgerFlags
	server, token string
}

// adminCommand returns the flag set of admin command cmd with -data,
// -server and -token registered in a.
func adminCommand(cmd string) (*flag.FlagSet, *adminFlags) {
	fs, a := newFlags(cmd), &adminFlags{cmd: cmd}
	a.ledger.register(fs, "data directory of a stopped server")
	fs.StringVar(&a.server, "server", "", "URL of a running server (http://HOST:PORT)")
	fs.StringVar(&a.token, "token", os.Getenv("VOUCHERD_TOKEN"), "admin token of the running server")
	return fs, a
}

// open returns the admin operations on the chosen server and a closer.
func (a *adminFlags) open() (hub.Admin, func(), error) {
	cmd := a.cmd
	switch {
	case a.ledger.set() && a.server != "":
		return nil, nil, usagef("%s: give -data DIR, -db URL or -server URL, only one", cmd)
	case a.server != "":
		if !strings.HasPrefix(a.server, "http://") && !strings.HasPrefix(a.server, "https://") {
			return nil, nil, usagef("%s: -server wants an http:// or https:// URL, got %q", cmd, a.server)
		}
		return &hub.Remote{URL: a.server, Token: a.token}, func() {}, nil
	case a.ledger.set():
		if err := a.ledger.check(cmd); err != nil {
			return nil, nil, err
		}
		h, err := a.ledger.openHub(context.Background(), hub.Options{Logf: func(string, ...any) {}})
		if err != nil {
			return nil, nil, err
		}
		return h, func() { _ = h.Close() }, nil
	}
	return nil, nil, usagef("%s: -data DIR, -db URL or -server URL is required", cmd)
}

func cmdMerchantAdd(args []string, stdout io.Writer) error {
	fs, a := adminCommand("merchant add")
	id := fs.String("id", "", "merchant id")
	name := fs.String("name", "", "merchant name")
	cat := fs.String("category", "", "retail, fuel, appliance or hospitality")
	region := fs.Uint("region", 140521, "administrative division code of the place of business")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("merchant add", [2]string{"id", *id}, [2]string{"name", *name}, [2]string{"category", *cat}); err != nil {
		return err
	}
	c, err := terminal.ParseCategory(*cat)
	if err != nil || c == terminal.Love {
		return usagef("merchant add: -category %q: want retail, fuel, appliance or hospitality", *cat)
	}
	if *region == 0 || *region > 999999 {
		return usagef("merchant add: -region %d: want a 6-digit division code", *region)
	}
	adm, done, err := a.open()
	if err != nil {
		return err
	}
	defer done()
	if err := adm.AddMerchant(context.Background(), terminal.Merchant{ID: *id, Name: *name, Category: c, Region: uint32(*region)}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "merchant %s added\n", *id)
	return nil
}

func cmdMerchantBlock(args []string, stdout io.Writer, block bool) error {
	name := "merchant unblock"
	if block {
		name = "merchant block"
	}
	fs, a := adminCommand(name)
	id := fs.String("id", "", "merchant id")
	reason := fs.String("reason", "", "why, for the admin log")
	who := fs.String("who", os.Getenv("USER"), "who acts, for the admin log")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need(name, [2]string{"id", *id}); err != nil {
		return err
	}
	adm, done, err := a.open()
	if err != nil {
		return err
	}
	defer done()
	op, verb := adm.Unblock, "unblocked"
	if block {
		op, verb = adm.Block, "blocked"
	}
	if err := op(context.Background(), *id); err != nil {
		return err
	}
	if err := logAction(adm, merchantAction(block, *id, *who, *reason)); err != nil {
		return fmt.Errorf("merchant %s %s, but the admin log failed: %w", *id, verb, err)
	}
	fmt.Fprintf(stdout, "merchant %s %s\n", *id, verb)
	return nil
}

func cmdTerminalAdd(args []string, stdout io.Writer) error {
	fs, a := adminCommand("terminal add")
	merchant := fs.String("merchant", "", "merchant id")
	id := fs.String("id", "", "terminal id")
	out := fs.String("out", "", "credential file to write")
	url := fs.String("url", "", "sync URL written into the credential, or several separated by commas (instances the agent tries in turn) (default: from -server, else ws://"+defaultListen+wire.Path+")")
	caFile := fs.String("ca", "", "PEM certificate(s) the terminal trusts for a wss:// URL (the server's -tls-cert, or its CA); written into the credential (default: the system's roots)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var ca []byte
	if *caFile != "" {
		b, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("terminal add: -ca: %w", err)
		}
		ca = b
		if _, err := (&wire.Credential{CA: ca}).TLSConfig(); err != nil {
			return fmt.Errorf("terminal add: -ca %s: %w", *caFile, err)
		}
	}
	if err := need("terminal add", [2]string{"merchant", *merchant}, [2]string{"id", *id}, [2]string{"out", *out}); err != nil {
		return err
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("terminal add: %s exists; not overwriting a credential", *out)
	}
	adm, done, err := a.open()
	if err != nil {
		return err
	}
	defer done()
	cred, err := adm.AddTerminal(context.Background(), *merchant, *id)
	if err != nil {
		return err
	}
	for i, u := range strings.Split(*url, ",") {
		if u = strings.TrimSpace(u); i == 0 {
			cred.Server = u
		} else if u != "" {
			cred.Servers = append(cred.Servers, u)
		}
	}
	switch {
	case cred.Server != "":
	case a.server != "":
		cred.Server = "ws" + strings.TrimPrefix(strings.TrimRight(a.server, "/"), "http") + wire.Path
	default:
		cred.Server = "ws://" + defaultListen + wire.Path
	}
	cred.CA = ca
	if err := cred.Write(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "terminal %s of merchant %s enrolled; credential written to %s\n", *id, *merchant, *out)
	return nil
}

func cmdTerminalRevoke(args []string, stdout io.Writer) error {
	fs, a := adminCommand("terminal revoke")
	id := fs.String("id", "", "terminal id")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("terminal revoke", [2]string{"id", *id}); err != nil {
		return err
	}
	adm, done, err := a.open()
	if err != nil {
		return err
	}
	defer done()
	if err := adm.RevokeTerminal(context.Background(), *id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "terminal %s revoked\n", *id)
	return nil
}

// cmdTerminalReset accepts a forked terminal's new chain after an
// investigation (docs/offline-ledger.md, "Recovering from a fork").
func cmdTerminalReset(args []string, stdout io.Writer) error {
	fs, a := adminCommand("terminal reset")
	id := fs.String("id", "", "terminal id")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("terminal reset", [2]string{"id", *id}); err != nil {
		return err
	}
	adm, done, err := a.open()
	if err != nil {
		return err
	}
	defer done()
	if err := adm.ResetTerminal(context.Background(), *id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "terminal %s reset: its new chain is accepted; the records kept as its fork stay conflicts\n", *id)
	return nil
}

func cmdMint(args []string, stdout io.Writer) error {
	fs, a := adminCommand("mint")
	cat := fs.String("category", "", "retail, fuel, appliance, hospitality or love")
	spend := fs.String("spend", "", "minimum spend in yuan")
	off := fs.String("off", "", "discount in yuan")
	value := fs.String("value", "", "face value in yuan (love vouchers)")
	holder := fs.String("holder", "", "holder id (up to 16 hex digits)")
	dayS := fs.String("day", "", "release day YYYY-MM-DD: valid 10:00-23:59 UTC+8")
	fromS := fs.String("from", "", "valid from (RFC3339)")
	untilS := fs.String("until", "", "valid until (RFC3339, exclusive)")
	n := fs.Int("n", 1, "number of vouchers")
	pngDir := fs.String("png", "", "also write a QR image per voucher into DIR")
	region := fs.Uint("region", 140521, "region code")
	campaign := fs.Uint("campaign", 202202, "campaign number")
	round := fs.Uint("round", 1, "release round")
	if err := parse(fs, args); err != nil {
		return err
	}
	req, err := mintRequest(*cat, *spend, *off, *value, *holder, *dayS, *fromS, *untilS)
	if err != nil {
		return err
	}
	if *n < 1 || *n > hub.MaxMint {
		return usagef("mint: -n %d outside 1..%d", *n, hub.MaxMint)
	}
	if *region == 0 || *region > 999999 || *campaign > 0xffffffff || *round == 0 || *round > 255 {
		return usagef("mint: -region, -campaign or -round out of range")
	}
	req.N, req.Region, req.Campaign, req.Round = *n, uint32(*region), uint32(*campaign), uint8(*round)
	if *pngDir != "" {
		if err := os.MkdirAll(*pngDir, 0o755); err != nil {
			return fmt.Errorf("mint: %w", err)
		}
	}
	adm, done, err := a.open()
	if err != nil {
		return err
	}
	defer done()
	codes, err := adm.Mint(context.Background(), req)
	if err != nil {
		return err
	}
	for _, c := range codes {
		fmt.Fprintln(stdout, c)
		if *pngDir != "" {
			if err := writePNG(*pngDir, c); err != nil {
				return err
			}
		}
	}
	return nil
}

func mintRequest(cat, spend, off, value, holder, dayS, fromS, untilS string) (hub.MintRequest, error) {
	var req hub.MintRequest
	c, err := terminal.ParseCategory(cat)
	if err != nil {
		return req, usagef("mint: -category: %v", err)
	}
	req.Category = c
	yuan := func(name, s string) (terminal.Fen, error) {
		f, err := terminal.ParseYuan(s)
		if err != nil {
			return 0, usagef("mint: -%s: %v", name, err)
		}
		return f, nil
	}
	if c == terminal.Love {
		if value == "" || spend != "" || off != "" {
			return req, usagef("mint: love vouchers take -value YUAN, not -spend/-off")
		}
		if req.OffFen, err = yuan("value", value); err != nil {
			return req, err
		}
	} else {
		if spend == "" || off == "" || value != "" {
			return req, usagef("mint: %s vouchers take -spend YUAN and -off YUAN", c)
		}
		if req.SpendFen, err = yuan("spend", spend); err != nil {
			return req, err
		}
		if req.OffFen, err = yuan("off", off); err != nil {
			return req, err
		}
	}
	v := terminal.Voucher{Category: c, SpendFen: req.SpendFen, OffFen: req.OffFen}
	if !terminal.Qinshui2022().HasDenomination(c, v.Denomination()) {
		return req, usagef("mint: %s %s is not a denomination of the programme", c, v.Denomination())
	}
	if holder == "" {
		return req, usagef("mint: -holder is required")
	}
	if err := req.Holder.UnmarshalText([]byte(holder)); err != nil {
		return req, usagef("mint: -holder: %v", err)
	}
	switch {
	case dayS != "" && (fromS != "" || untilS != ""):
		return req, usagef("mint: give -day or -from/-until, not both")
	case dayS != "":
		d, err := terminal.ParseDay(dayS)
		if err != nil {
			return req, usagef("mint: -day %q: want YYYY-MM-DD", dayS)
		}
		req.From, req.Until = terminal.ClaimDay(d)
	case fromS != "" && untilS != "":
		if req.From, err = time.Parse(time.RFC3339, fromS); err != nil {
			return req, usagef("mint: -from %q: want RFC3339", fromS)
		}
		if req.Until, err = time.Parse(time.RFC3339, untilS); err != nil {
			return req, usagef("mint: -until %q: want RFC3339", untilS)
		}
		if !req.Until.After(req.From) {
			return req, usagef("mint: -until must be after -from")
		}
	default:
		return req, usagef("mint: -day or both -from and -until are required")
	}
	return req, nil
}

func writePNG(dir, code string) error {
	v, err := terminal.ParseCode(code)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, v.ID.String()+".png")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	err = qrimage.WritePNG(f, code, 400)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mint: %s: %w", path, err)
	}
	return nil
}

func cmdRevoke(args []string, stdout io.Writer) error {
	fs, a := adminCommand("revoke")
	vs := fs.String("voucher", "", "voucher id (16 hex digits)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("revoke", [2]string{"voucher", *vs}); err != nil {
		return err
	}
	id, err := terminal.ParseVoucherID(*vs)
	if err != nil {
		return usagef("revoke: -voucher: %v", err)
	}
	adm, done, err := a.open()
	if err != nil {
		return err
	}
	defer done()
	if err := adm.Revoke(context.Background(), id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "voucher %s revoked\n", id)
	return nil
}

func cmdReport(args []string, stdout io.Writer) error {
	fs, a := adminCommand("report")
	dayS := fs.String("day", "", "day YYYY-MM-DD (UTC+8)")
	merchant := fs.String("merchant", "", "only this merchant")
	format := fs.String("format", "table", "table, csv or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("report", [2]string{"day", *dayS}); err != nil {
		return err
	}
	d, err := terminal.ParseDay(*dayS)
	if err != nil {
		return usagef("report: -day %q: want YYYY-MM-DD", *dayS)
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return usagef("report: -format %q: want table, csv or json", *format)
	}
	adm, done, err := a.open()
	if err != nil {
		return err
	}
	defer done()
	rep, err := adm.Report(context.Background(), d, *merchant)
	if err != nil {
		return err
	}
	return rep.Write(stdout, *format)
}

func cmdKeyRotate(args []string, stdout io.Writer) error {
	fs, a := adminCommand("key rotate")
	if err := parse(fs, args); err != nil {
		return err
	}
	adm, done, err := a.open()
	if err != nil {
		return err
	}
	defer done()
	id, err := adm.RotateKey(context.Background())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}
