// Command posagent is the agent on a merchant's point-of-sale terminal: it
// reads vouchers from the serial scanner, decides them by the programme's
// rules (online with the server when it can, offline within limits when it
// cannot), keeps every redemption in a durable signed ledger and syncs it,
// and serves the till's JSON API, the cashier screen and the merchant's
// dashboard on loopback HTTP.
//
//	posagent -data DIR -credential FILE -scanner DEVICE [-baud N] [-http ADDR]
//	posagent report -day YYYY-MM-DD [-format table|csv|json] [-http ADDR]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/cmd/internal/buildinfo"
	"github.com/voucherpos/voucherpos/cmd/internal/logging"
	"github.com/voucherpos/voucherpos/cmd/internal/till"
	"github.com/voucherpos/voucherpos/drivers/serial"
	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a bad flag or argument: exit 2.
type errUsage struct{ msg string }

func (e *errUsage) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if buildinfo.Handle(args, "posagent", stdout) {
		return 0
	}
	var err error
	switch {
	case len(args) > 0 && args[0] == "report":
		err = report(ctx, args[1:], stdout)
	case len(args) > 0 && args[0] == "verify":
		err = verify(ctx, args[1:], stdout)
	case len(args) > 0 && args[0] == "backup":
		err = backup(ctx, args[1:], stdout)
	default:
		err = serve(ctx, args, stdout, stderr)
	}
	var ue *errUsage
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "posagent: %s (see posagent -h)\n", ue.msg)
		return 2
	default:
		fmt.Fprintf(stderr, "posagent: %v\n", err)
		return 1
	}
}

const usageText = `usage:
  posagent -data DIR -credential FILE -scanner DEVICE [-baud N] [-http ADDR] [flags]
  posagent -version
  posagent report -day YYYY-MM-DD [-format table|csv|json] [-http ADDR] [-data DIR -credential FILE]
  posagent verify -data DIR [-credential FILE] [-http ADDR]
  posagent backup -data DIR -out FILE [-http ADDR]

Runs the voucher agent of one checkout lane: the serial scanner, the rules, the
durable ledger, sync with voucherd, and on -http the till's JSON API (/api/v1/...),
the cashier screen (/) and the merchant's dashboard (/dashboard).

On a fresh (empty) ledger it first asks the server whether it holds records of
this terminal, and refuses to start if it does: put the lost ledger back, or, if
it is truly lost, start with -new-ledger-after-loss (docs/offline-ledger.md).

'report' prints the merchant's day. It asks the running agent on -http; when no
agent answers it reads the ledger in -data itself (so it works with the agent
stopped and with the network down).

'verify' checks the ledger in -data (pages, the chain, every signature and
record body): exit 0 when sound, 1 with the first fault. 'backup' writes a
consistent copy of the ledger to -out. Both work while the agent runs (they
ask it on -http for a copy) and with it stopped.

flags:
`

// newFlags returns a quiet flag set: parse reports its errors.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // parse prints the usage for -h only
	return fs
}

// parse parses args; -h prints the usage on w.
func parse(fs *flag.FlagSet, args []string, w io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(w, usageText)
			fs.SetOutput(w)
			fs.PrintDefaults()
			return err
		}
		return &errUsage{err.Error()}
	}
	if fs.NArg() > 0 {
		return &errUsage{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("posagent")
	data := fs.String("data", "", "data directory for the ledger (required), e.g. /var/lib/posagent")
	cred := fs.String("credential", "", "the terminal's credential file from 'voucherd terminal add' (required)")
	device := fs.String("scanner", "", "scanner serial device, e.g. /dev/serial/by-id/usb-...; 'none' for API-only tills (required)")
	baud := fs.Int("baud", 0, "scanner baud rate; 0 means the profile's (honeywell 115200, others 9600)")
	profile := fs.String("profile", "generic", "scanner profile: honeywell, zebra, datalogic or generic")
	httpAddr := fs.String("http", agent.DefaultHTTP, "listen address of the API and pages (keep it on loopback)")
	server := fs.String("server", "", "voucherd sync URL (ws://host:port/v1/sync); empty means the credential's")
	insecure := fs.Bool("insecure-sync", false, "allow a plain ws:// sync URL to a host other than loopback, and plain ws:// with a credential without server_key (records cross the network unprotected; acks verified only with a server_key)")
	claim := fs.Duration("claim-timeout", terminal.DefaultClaimTimeout, "longest wait for the server's online answer before deciding offline")
	lf := logging.Register(fs)
	lost := fs.Bool("new-ledger-after-loss", false, "start a fresh ledger although the server holds records of this terminal (its ledger was lost): it then redeems nothing until 'voucherd terminal reset'; without it posagent refuses to start")
	pinFile := fs.String("refund-pin-file", "", "file holding the manager's PIN every refund must carry (4-12 digits); empty means refunds need none")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case *data == "":
		return &errUsage{"-data DIR is required"}
	case *cred == "":
		return &errUsage{"-credential FILE is required"}
	case *device == "":
		return &errUsage{"-scanner DEVICE is required ('none' for no scanner)"}
	case *baud < 0:
		return &errUsage{fmt.Sprintf("-baud %d: want a positive baud rate", *baud)}
	}
	prof, err := serial.ProfileByName(*profile)
	if err != nil {
		return &errUsage{"-profile: " + err.Error()}
	}
	log, err := lf.New(stderr)
	if err != nil {
		return &errUsage{err.Error()}
	}
	c, err := wire.LoadCredential(*cred)
	if err != nil {
		return err
	}
	warnExposedCredential(log, *cred)
	urls := c.URLs()
	if *server != "" {
		urls = []string{*server}
	}
	for _, u := range urls {
		if err := wire.CheckSyncURL(u, *insecure); err != nil {
			return fmt.Errorf("posagent: %w", err)
		}
	}
	if *insecure {
		log.Warn("-insecure-sync: plain ws:// to the network; records, acks and the server's state are not protected")
	}
	opts := agent.Options{DataDir: *data, Credential: c, HTTP: *httpAddr, Server: *server, ClaimTimeout: *claim, Log: log,
		InsecureSync: *insecure, NewLedgerAfterLoss: *lost}
	if *pinFile != "" {
		if opts.RefundPIN, err = readPIN(*pinFile); err != nil {
			return err
		}
	}
	if *device != "none" {
		opts.Scanner = serial.Config{Device: *device, Profile: prof, Baud: *baud}
	}
	a := agent.New(opts)
	if err := a.Open(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	return a.Close()
}

// readPIN reads the manager's refund PIN: one line of 4 to 12 digits.
func readPIN(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("refund PIN: %w", err)
	}
	pin := strings.TrimSpace(string(b))
	if len(pin) < 4 || len(pin) > 12 || strings.Trim(pin, "0123456789") != "" {
		return "", fmt.Errorf("refund PIN in %s: want one line of 4 to 12 digits", path)
	}
	return pin, nil
}

// warnExposedCredential warns when the credential file (the terminal's
// private signing key) is readable by its group or by others: whoever reads
// it can sign records as this terminal.
func warnExposedCredential(log *slog.Logger, path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn("credential file is readable by others: it holds the terminal's signing key; chmod 0600 it (or use the unit's LoadCredential)",
		"file", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
}

func report(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("posagent report")
	dayText := fs.String("day", "", "the day, YYYY-MM-DD (UTC+8); empty means today")
	format := fs.String("format", till.FormatTable, "output: table, csv or json")
	httpAddr := fs.String("http", agent.DefaultHTTP, "address of the running agent")
	data := fs.String("data", "", "data directory, read directly when no agent answers on -http")
	cred := fs.String("credential", "", "credential file, needed with -data")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	day := terminal.Day(time.Now())
	if *dayText != "" {
		d, err := terminal.ParseDay(*dayText)
		if err != nil {
			return &errUsage{fmt.Sprintf("-day %q: want YYYY-MM-DD", *dayText)}
		}
		day = d
	}
	switch *format {
	case till.FormatTable, till.FormatCSV, till.FormatJSON:
	default:
		return &errUsage{fmt.Sprintf("-format %q: want table, csv or json", *format)}
	}
	rep, err := fetchReport(ctx, *httpAddr, day)
	if err != nil {
		if *data == "" {
			return fmt.Errorf("no agent answers on %s (%v); give -data DIR -credential FILE to read the ledger directly", *httpAddr, err)
		}
		rep, err = readReport(ctx, *data, *cred, day)
		if err != nil {
			return err
		}
	}
	return till.WriteReport(stdout, &rep, *format)
}

// fetchReport asks the running agent.
func fetchReport(ctx context.Context, addr string, day time.Time) (till.Report, error) {
	var rep till.Report
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	req, err := http.NewRequestWithContext(ctx, "GET", addr+"/api/v1/redemptions?day="+day.Format(time.DateOnly), nil)
	if err != nil {
		return rep, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("agent answered %s", resp.Status)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&rep)
	return rep, err
}

// readReport opens the ledger itself (the agent is not running: bbolt's
// lock would refuse it otherwise).
func readReport(ctx context.Context, dir, credPath string, day time.Time) (till.Report, error) {
	if credPath == "" {
		return till.Report{}, &errUsage{"-data needs -credential FILE (the ledger is checked against the terminal's key)"}
	}
	c, err := wire.LoadCredential(credPath)
	if err != nil {
		return till.Report{}, err
	}
	l, err := offline.Open(filepath.Join(dir, agent.LedgerFile), offline.Options{TerminalID: c.TerminalID,
		MerchantID: c.MerchantID, Key: c.PrivateKey(), Logger: slog.New(slog.DiscardHandler)})
	if errors.Is(err, offline.ErrLocked) {
		return till.Report{}, fmt.Errorf("the agent holds the ledger but does not answer on -http; give its -http address: %w", err)
	}
	if err != nil {
		return till.Report{}, err
	}
	defer l.Close()
	return till.DayReport(ctx, l, day)
}
