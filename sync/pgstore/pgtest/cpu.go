package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServerCPU samples the CPU time of the database server's processes at url
// (every process pg_stat_activity lists but the sampling connection's own:
// backends, WAL writer, checkpointer...) from /proc, and returns a function
// giving what they used since: a process gone by then is not counted, one
// started since counts whole. Zero if the server is not on this machine.
func ServerCPU(tb testing.TB, url string) func() time.Duration {
	before := serverCPU(tb, url)
	return func() time.Duration {
		after := serverCPU(tb, url)
		if before == nil || after == nil {
			return 0
		}
		var d time.Duration
		for pid, t := range after {
			d += t - before[pid]
		}
		return d
	}
}

// serverCPU returns the CPU time used so far by each of the server's
// processes; nil if the server is not on this machine.
func serverCPU(tb testing.TB, url string) map[int32]time.Duration {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
	if err != nil {
		tb.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		tb.Fatal(err)
	}
	out := map[int32]time.Duration{}
	for _, pid := range pids {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		// After the command's closing parenthesis, utime and stime are
		// the 12th and 13th fields, in clock ticks (100 a second).
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
		if len(f) < 13 {
			return nil
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = time.Duration(u+s) * 10 * time.Millisecond
	}
	return out
}

// ProcessCPU returns the CPU time (user and system) this process has used
// so far (zero if it cannot be read): the benchmark's side beside
// ServerCPU's, which the machine's other load does not inflate as it does
// the wall clock.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CPUProfile writes a CPU profile of a benchmark's timed part alone (not
// what it sets up, which -cpuprofile also counts) to the file the
// environment variable env names, with "." and suffix appended (a run's
// number: "FILE.0", "FILE.1" ...); with env unset it does nothing. It
// returns the function that stops the profile.
func CPUProfile(tb testing.TB, env, suffix string) func() {
	name := os.Getenv(env)
	if name == "" {
		return func() {}
	}
	f, err := os.Create(name + "." + suffix)
	if err != nil {
		tb.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		tb.Fatal(err) // e.g. -cpuprofile given as well
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
	}
}
