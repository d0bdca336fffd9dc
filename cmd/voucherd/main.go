// Command voucherd is the central server of the voucher programme: the
// terminals' sync hub, the voucher issuer, the ledger of every redemption,
// and the reports (CONTRACT.md). Admin commands work against a stopped data
// directory (-data DIR) or a running server (-server URL).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/voucherpos/voucherpos/cmd/internal/buildinfo"
)

const usage = `voucherd: the central server (sync hub, voucher issuer, ledger, reports)

usage:
  voucherd -version                   (version, VCS revision and commit time of this build)
  voucherd init (-data DIR | -db URL -key-file FILE)
  voucherd serve (-data DIR | -db URL -key-file FILE) -listen ADDR [-token TOKEN] [-platform-token TOKEN]
                 [-log-format text|json] [-log-level info]
  voucherd merchant add -id M -name NAME -category retail|fuel|appliance|hospitality [-region 140521] ADMIN
  voucherd merchant block -id M ADMIN
  voucherd merchant unblock -id M ADMIN
  voucherd terminal add -merchant M -id T -out FILE [-url ws://HOST/v1/sync[,ws://HOST2/v1/sync...]] ADMIN
  voucherd terminal revoke -id T ADMIN
  voucherd terminal reset -id T ADMIN  (accept a forked terminal's new chain, after investigation)
  voucherd terminal list [-format table|json] ADMIN   (last sync, queue, exposure, agent version, faults)
  voucherd mint -category C (-spend YUAN -off YUAN | -value YUAN) -holder H
                (-day YYYY-MM-DD | -from RFC3339 -until RFC3339) [-n N] [-png DIR] ADMIN
  voucherd revoke -voucher ID ADMIN
  voucherd key rotate ADMIN            (mint with a new issuing key; old keys stay trusted)
  voucherd report -day YYYY-MM-DD [-merchant M] [-format table|csv|json] ADMIN
  voucherd report programme [-from YYYY-MM-DD -until YYYY-MM-DD] [-format table|csv|json|html] [-out FILE] ADMIN
  voucherd audit sample -from YYYY-MM-DD -until YYYY-MM-DD [-rate 0.10] -seed S -out DIR ADMIN
  voucherd audit verify DIR            (exit 1 if any sampled record fails)
  voucherd round add -id R -from YYYY-MM-DD -until YYYY-MM-DD
                -budget retail=YUAN,fuel=YUAN,appliance=YUAN,hospitality=YUAN ADMIN
  voucherd round list ADMIN
  voucherd drop add -category C -spend YUAN -off YUAN -count N [-day YYYY-MM-DD] [-at HH:MM] ADMIN
  voucherd love add -holder PLATFORM_ID [-value YUAN] ADMIN
  voucherd pool [-day YYYY-MM-DD] [-format table|csv|json] ADMIN
  voucherd budget move -round R -from C -to C -amount YUAN -reason TEXT ADMIN
  voucherd check -data DIR             (verify a stopped server's embedded ledger)
  voucherd migrate -data DIR -db URL -key-file FILE   (copy an embedded ledger into an empty PostgreSQL and check it)
  voucherd backup (-data DIR | -server URL) -out FILE   (hot copy of the embedded ledger)

ADMIN is -data DIR (a stopped server's directory), -db URL -key-file FILE
(a PostgreSQL database, $VOUCHERD_DB and $VOUCHERD_KEY_FILE, running servers
or not) or -server URL (a running server, e.g. http://127.0.0.1:8443) with
-token TOKEN if it has one (or $VOUCHERD_TOKEN). serve takes its token from -token or $VOUCHERD_TOKEN;
without one the admin API answers loopback callers only.
/console/ on serve's address is the county's console (the admin token, or loopback).

Exit status: 0 ok, 1 error, 2 bad usage.
`

// usageError is a bad flag or argument: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errHelp asks for the usage text.
var errHelp = errors.New("help")

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run executes one command and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if buildinfo.Handle(args, "voucherd", stdout) {
		return 0
	}
	err := dispatch(args, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "voucherd: %s (voucherd -h for usage)\n", oneLine(ue.msg))
		return 2
	default:
		fmt.Fprintf(stderr, "voucherd: %s\n", oneLine(err.Error()))
		return 1
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("no command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		return errHelp
	case "init":
		return cmdInit(rest, stdout, stderr)
	case "serve":
		return cmdServe(rest, stdout, stderr)
	case "mint":
		return cmdMint(rest, stdout)
	case "revoke":
		return cmdRevoke(rest, stdout)
	case "report":
		if len(rest) > 0 && rest[0] == "programme" {
			return cmdReportProgramme(rest[1:], stdout)
		}
		return cmdReport(rest, stdout)
	case "check":
		return cmdCheck(rest, stdout)
	case "migrate":
		return cmdMigrate(rest, stdout, stderr)
	case "backup":
		return cmdBackup(rest, stdout)
	case "audit":
		switch {
		case len(rest) > 0 && rest[0] == "sample":
			return cmdAuditSample(rest[1:], stdout)
		case len(rest) > 0 && rest[0] == "verify":
			return cmdAuditVerify(rest[1:], stdout)
		}
		return usagef("audit needs a subcommand: sample or verify")
	case "pool":
		return cmdPool(rest, stdout)
	case "merchant", "terminal", "key", "round", "drop", "love", "budget":
		if len(rest) == 0 {
			return usagef("%s needs a subcommand", cmd)
		}
		sub := cmd + " " + rest[0]
		switch sub {
		case "merchant add":
			return cmdMerchantAdd(rest[1:], stdout)
		case "merchant block":
			return cmdMerchantBlock(rest[1:], stdout, true)
		case "merchant unblock":
			return cmdMerchantBlock(rest[1:], stdout, false)
		case "terminal add":
			return cmdTerminalAdd(rest[1:], stdout)
		case "terminal revoke":
			return cmdTerminalRevoke(rest[1:], stdout)
		case "terminal reset":
			return cmdTerminalReset(rest[1:], stdout)
		case "terminal list":
			return cmdTerminalList(rest[1:], stdout)
		case "key rotate":
			return cmdKeyRotate(rest[1:], stdout)
		case "round add":
			return cmdRoundAdd(rest[1:], stdout)
		case "round list":
			return cmdRoundList(rest[1:], stdout)
		case "drop add":
			return cmdDropAdd(rest[1:], stdout)
		case "love add":
			return cmdLoveAdd(rest[1:], stdout)
		case "budget move":
			return cmdBudgetMove(rest[1:], stdout)
		}
		if rest[0] == "-h" || rest[0] == "-help" || rest[0] == "--help" {
			return errHelp
		}
		return usagef("unknown command %q", sub)
	}
	return usagef("unknown command %q", cmd)
}

// newFlags returns a flag set that reports errors as usageError and -h as errHelp.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args, translating the flag package's errors; positional
// arguments are refused.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// need returns a usage error naming the first empty required flag.
func need(cmd string, flags ...[2]string) error {
	for _, f := range flags {
		if f[1] == "" {
			return usagef("%s: -%s is required", cmd, f[0])
		}
	}
	return nil
}
