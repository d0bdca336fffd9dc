// Command posdemo runs the whole system on this machine and plays a day of
// trade at two tills: the central server on a temporary ledger, a merchant
// with two terminals, each with a simulated scanner on a pseudo-terminal and
// the agent with its cashier screen and dashboard. It prints each step with
// its expected and actual outcome and the day's report, then keeps the pages
// up until Ctrl-C. With -once it exits after the day: 0 if every step went
// as expected, 1 otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent/stack"
	"github.com/voucherpos/voucherpos/cmd/internal/buildinfo"
	"github.com/voucherpos/voucherpos/terminal"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if buildinfo.Handle(args, "posdemo", stdout) {
		return 0
	}
	fs := flag.NewFlagSet("posdemo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	once := fs.Bool("once", false, "exit after the day: 0 if every step went as expected, 1 otherwise")
	httpA := fs.String("http", "127.0.0.1:8080", "address of the first till's pages (the second takes the next port; busy ports fall back to free ones)")
	verbose := fs.Bool("v", false, "log what the agents do")
	usage := func(w io.Writer) {
		fmt.Fprintln(w, "usage: posdemo [-once] [-http ADDR] [-v]   |   posdemo -version")
		fmt.Fprintln(w, "Runs voucherd, a merchant with two terminals, simulated scanners and the agents on this machine,")
		fmt.Fprintln(w, "plays a day of trade and keeps the cashier screens and dashboards up until Ctrl-C.")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "posdemo: %v (see posdemo -h)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "posdemo: unexpected argument %q (see posdemo -h)\n", fs.Arg(0))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "posdemo-")
	if err != nil {
		fmt.Fprintf(stderr, "posdemo: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)

	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	// The demo's day starts at 10:30 today (UTC+8), after the day's vouchers
	// are released, and runs at real speed; the script moves it on between
	// steps (never back), so the day's report spreads over the morning.
	base, start := terminal.Day(time.Now()).Add(10*time.Hour+30*time.Minute), time.Now()
	var mu sync.Mutex
	var skipped time.Duration
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return base.Add(skipped + time.Since(start))
	}
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		skipped += d
	}
	fmt.Fprintf(stdout, "posdemo: 沁水县数字消费券 · 收银演示 / Qinshui County digital consumption vouchers, a day at the till\n")
	fmt.Fprintf(stdout, "data in %s\n\n", dir)
	s, err := stack.Start(ctx, stack.Options{Dir: dir, Terminals: []string{"T1", "T2"}, Now: now, Advance: advance, Log: log,
		HTTP: []string{*httpA, nextPort(*httpA)}})
	if err != nil {
		fmt.Fprintf(stderr, "posdemo: start: %v\n", err)
		return 1
	}
	defer s.Close()
	fmt.Fprintf(stdout, "voucherd %s · merchant %s %s · terminals T1, T2 online\n\n", s.HubURL, s.Merchant.ID, s.Merchant.Name)

	steps, err := s.PlayDay(ctx, stdout)
	n := 0
	for _, st := range steps {
		if st.OK {
			n++
		}
	}
	good := err == nil && n == len(steps)
	fmt.Fprintln(stdout)
	if rerr := s.Report(ctx, s.Terminals[0], stdout); rerr != nil {
		fmt.Fprintf(stderr, "posdemo: report: %v\n", rerr)
		good = false
	}
	// Night falls: the day's unredeemed vouchers expire and go back to the pool.
	expired, perr := s.Night(ctx)
	pool, err2 := s.Issuing.Pool(ctx, terminal.Day(now()).AddDate(0, 0, -1))
	if perr == nil {
		perr = err2
	}
	if perr == nil {
		perr = terminal.CheckPool(pool.Lines)
	}
	if perr != nil {
		fmt.Fprintf(stderr, "posdemo: pool: %v\n", perr)
		good = false
	} else {
		fmt.Fprintf(stdout, "\n午夜：%d 张未核销的券过期，退回资金池 / midnight: %d unredeemed vouchers expired, their value back in the pool\n", expired, expired)
		_ = pool.Write(stdout, "table")
	}
	if good {
		fmt.Fprintf(stdout, "all %d steps went as expected\n", len(steps))
	} else {
		fmt.Fprintf(stdout, "%d of %d steps went as expected\n", n, len(steps))
		if err != nil {
			fmt.Fprintf(stderr, "posdemo: %v\n", err)
		}
	}
	if *once {
		if good {
			return 0
		}
		return 1
	}
	fmt.Fprintf(stdout, "\n收银台 cashier screens: %s/  %s/\n商户日报 dashboards:    %s/dashboard  %s/dashboard\n消费者钱包 wallet:      %s/wallet/?holder=ysf-62220001\nCtrl-C to stop.\n",
		s.Terminals[0].Agent.URL(), s.Terminals[1].Agent.URL(), s.Terminals[0].Agent.URL(), s.Terminals[1].Agent.URL(), s.HubURL)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	if good {
		return 0
	}
	return 1
}

// nextPort returns addr with its port plus one ("" if it has none).
func nextPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	p, err := strconv.Atoi(port)
	if err != nil || p == 0 {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1))
}
