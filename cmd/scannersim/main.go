// Command scannersim is a barcode scanner simulator on a pseudo-terminal:
// a virtual scanner for running the agent without hardware.
//
//	scannersim -link PATH [-profile honeywell|zebra|datalogic] [-baud N]
//	           [-suffix CR|LF|CRLF|TAB|ETX|none] [-prefix TEXT] [-aim]
//	           [-noise P] [-dup P] [-seed N] [-v]
//
// It opens a pseudo-terminal, points the symlink PATH at it, prints
// "ready PATH" and reads commands, one a line, on stdin:
//
//	scan TEXT     reads a code carrying TEXT and sends it
//	image FILE    photographs a QR picture (PNG/JPEG), sends its code or a no-read
//	garbage N     sends N bytes of line noise
//	unplug        the device disappears
//	plug          the device comes back at the same PATH
//	present TEXT  holds a code in front of the scanner for the next trigger
//	trigger       pulls the trigger: reads the presented code, or a no-read
//	quit          exits (so does the end of stdin)
//
// Each command is answered with one line on stdout: ok, noread or
// "error: ...". Commands the host sends to the scanner (trigger, beeps) are
// logged on stderr.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/voucherpos/voucherpos/cmd/internal/buildinfo"
	firmwaresim "github.com/voucherpos/voucherpos/firmware-sim"
)

const usage = `usage: scannersim -link PATH [-profile honeywell|zebra|datalogic] [-baud N]
                  [-suffix CR|LF|CRLF|TAB|ETX|none] [-prefix TEXT] [-aim]
                  [-noise P] [-dup P] [-seed N] [-v]

A barcode scanner simulator on a pseudo-terminal. It points the symlink PATH at
the pty, prints "ready PATH", then reads commands on stdin, one a line:

  scan TEXT     reads a code carrying TEXT and sends it
  image FILE    photographs a QR picture (PNG/JPEG), sends its code or a no-read
  garbage N     sends N bytes of line noise
  unplug        the device disappears
  plug          the device comes back at the same PATH
  present TEXT  holds a code in front of the scanner for the next host trigger
  trigger       pulls the trigger: reads the presented code, or sends a no-read
  quit          exits (so does the end of stdin)

Each command is answered with one line on stdout: ok, noread or "error: ...".

scannersim -version prints the version and build.

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command: it returns the exit status (0 ok, 1 error, 2 usage).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if buildinfo.Handle(args, "scannersim", stdout) {
		return 0
	}
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "scannersim: %v\n", err)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.level}))
	cfg.OnCommand = func(name string) { fmt.Fprintf(stderr, "scannersim: host sent: %s\n", name) }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sim, err := firmwaresim.Start(ctx, cfg.Config)
	if err != nil {
		fmt.Fprintf(stderr, "scannersim: %v\n", err)
		return 1
	}
	defer sim.Close()
	fmt.Fprintf(stdout, "ready %s\n", sim.Path())

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return 0
		case line, ok := <-lines:
			if !ok {
				return 0
			}
			answer, quit := command(sim, line)
			if answer != "" {
				fmt.Fprintln(stdout, answer)
			}
			if quit {
				return 0
			}
		}
	}
}

// config is the simulator's configuration and the log level.
type config struct {
	firmwaresim.Config
	level slog.Level
}

// parseFlags reads the command line.
func parseFlags(args []string, stdout io.Writer) (config, error) {
	fs := flag.NewFlagSet("scannersim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		link    = fs.String("link", "", "symlink `PATH` to point at the pseudo-terminal (required)")
		profile = fs.String("profile", "honeywell", "scanner model: honeywell (115200, CRLF), zebra (9600, none) or datalogic (9600, CR)")
		baud    = fs.Int("baud", 0, "line speed `N` (default the profile's)")
		suffix  = fs.String("suffix", "", "suffix: CR, LF, CRLF, TAB, ETX or none (default the profile's)")
		prefix  = fs.String("prefix", "", "`TEXT` sent before every code")
		aim     = fs.Bool("aim", false, "send the AIM symbology identifier ]Q1 before every code")
		noise   = fs.Float64("noise", 0, "probability `P` that a scan is preceded by a burst of line noise")
		dup     = fs.Float64("dup", 0, "probability `P` that a scan is sent twice, as a presentation reread")
		seed    = fs.Uint64("seed", 0, "random seed for chunking and noise (default random)")
		verbose = fs.Bool("v", false, "log what the scanner does on stderr")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	if *link == "" {
		return config{}, errors.New("-link PATH is required (see -h)")
	}
	p, err := firmwaresim.ProfileByName(*profile)
	if err != nil {
		return config{}, fmt.Errorf("-profile: %w", err)
	}
	if *baud < 0 || (*baud > 0 && *baud < 50) {
		return config{}, fmt.Errorf("-baud: bad rate %d", *baud)
	}
	if _, err := firmwaresim.SuffixBytes(*suffix); err != nil {
		return config{}, fmt.Errorf("-suffix: %w", err)
	}
	if *noise < 0 || *noise > 1 || *dup < 0 || *dup > 1 {
		return config{}, errors.New("-noise and -dup are probabilities between 0 and 1")
	}
	c := config{Config: firmwaresim.Config{Link: *link, Profile: p, Baud: *baud, Suffix: *suffix,
		Prefix: *prefix, AIM: *aim, Noise: *noise, Duplicates: *dup, Seed: *seed}, level: slog.LevelWarn}
	if *verbose {
		c.level = slog.LevelDebug
	}
	return c, nil
}

// command runs one stdin command and returns its answer line, and whether
// to exit.
func command(sim *firmwaresim.Sim, line string) (answer string, quit bool) {
	verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r"), " ")
	var err error
	switch verb {
	case "":
		return "", false
	case "scan":
		if arg == "" {
			return "error: scan needs TEXT", false
		}
		err = sim.Scan(arg)
	case "image":
		if arg == "" {
			return "error: image needs FILE", false
		}
		_, err = sim.Image(arg)
	case "garbage":
		n, perr := strconv.Atoi(arg)
		if perr != nil || n <= 0 || n > 1<<20 {
			return fmt.Sprintf("error: garbage needs a byte count, got %q", arg), false
		}
		err = sim.Garbage(n)
	case "unplug":
		err = sim.Unplug()
	case "plug":
		err = sim.Plug()
	case "present":
		sim.Present(arg)
	case "trigger":
		err = sim.PullTrigger()
	case "quit":
		return "ok", true
	default:
		return fmt.Sprintf("error: unknown command %q (scan, image, garbage, unplug, plug, present, trigger, quit)", verb), false
	}
	switch {
	case errors.Is(err, firmwaresim.ErrNoRead):
		return "noread", false
	case errors.Is(err, firmwaresim.ErrUnplugged):
		return "error: scanner unplugged", false
	case err != nil:
		return "error: " + oneLine(err.Error()), false
	}
	return "ok", false
}

// oneLine keeps an answer on one line.
func oneLine(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ") }
