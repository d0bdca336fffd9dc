package storm_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// The storm of issue 11: 5,000 terminals, each with 20 queued records,
// drained in under 10 s; the server's memory per idle connection at most
// 16 KiB.
const (
	terminals       = 5000
	queued          = 20
	perMerchant     = 5 // terminals of one merchant
	drainGoal       = 10 * time.Second
	idleConnGoal    = 16 << 10
	stormTimeout    = 3 * time.Minute
	setupConcurrent = 64 // first syncs at once (below the hub's unauthenticated limit)
)

// day is 2022-10-01 UTC+8, a day of the programme; noon is when the
// terminals sell and the hubs' clock.
var (
	day  = time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)
	noon = day.Add(12 * time.Hour)
)

// hubEnv makes the test binary a hub (TestMain): "pg URL KEYFILE" or
// "bolt DIR". It serves the sync websocket and /storm/mem, prints its
// address and runs until its stdin closes.
const hubEnv = "VOUCHERD_STORM_HUB"

func TestMain(m *testing.M) {
	if spec := os.Getenv(hubEnv); spec != "" {
		if err := runHub(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHub(spec string) error {
	if err := raiseFileLimit(2*terminals + 256); err != nil {
		return err
	}
	f := strings.Fields(spec)
	opts := hub.Options{Now: func() time.Time { return noon }, Logf: func(string, ...any) {}}
	if path := os.Getenv("STORM_LOG"); path != "" {
		lf, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
		if err != nil {
			return err
		}
		defer lf.Close()
		opts.Logf = log.New(lf, "", log.Lmicroseconds).Printf
		opts.Hooks.GroupCommit = func(records, claims int, took time.Duration, err error) {
			opts.Logf("group commit: %d records, %d claims, %v, err %v", records, claims, took, err)
		}
	}
	if v := os.Getenv("STORM_MAXUNAUTH"); v != "" {
		opts.MaxUnauthenticated, _ = strconv.Atoi(v)
	}
	var h *hub.Hub
	var err error
	switch {
	case len(f) == 3 && f[0] == "pg":
		var st *pgstore.Store
		if st, err = pgstore.Open(context.Background(), f[1], pgstore.Options{KeyFile: f[2]}); err == nil {
			h, err = hub.New(st, opts)
		}
	case len(f) == 2 && f[0] == "bolt":
		h, err = boltstore.OpenHub(f[1], opts)
	default:
		err = fmt.Errorf("%s: want \"pg URL KEYFILE\" or \"bolt DIR\", got %q", hubEnv, spec)
	}
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", h.Handler())
	mux.HandleFunc("/storm/mem", func(w http.ResponseWriter, _ *http.Request) {
		m := readMem(h.Connected())
		if path := os.Getenv("STORM_HEAPPROFILE"); path != "" && m.Conns > 0 {
			if pf, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid())); err == nil {
				_ = pprof.Lookup("heap").WriteTo(pf, 0)
				_ = pf.Close()
			}
		}
		_ = json.NewEncoder(w).Encode(m)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	go func() { _ = hub.NewServer(mux).Serve(ln) }() // voucherd serve's server settings
	if path := os.Getenv("STORM_CPUPROFILE"); path != "" {
		pf, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
		if err != nil {
			return err
		}
		_ = pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// mem is a hub process's memory after a full collection with the freed
// memory handed back to the system.
type mem struct {
	Conns      int           // terminals connected
	Goroutines int           // goroutines
	Heap       uint64        // live heap bytes (HeapAlloc after a GC)
	Stack      uint64        // goroutine stacks (StackInuse)
	RSS        uint64        // resident set (VmRSS)
	CPU        time.Duration // CPU time used so far (user and system)
}

func readMem(conns int) mem {
	debug.FreeOSMemory() // a GC, then the free pages back to the system
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := mem{Conns: conns, Goroutines: runtime.NumGoroutine(), Heap: ms.HeapAlloc, Stack: ms.StackInuse, CPU: pgtest.ProcessCPU()}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				m.RSS = kb << 10
			}
		}
	}
	return m
}

// raiseFileLimit raises the soft limit of open files to at least n (the
// hard limit allowing): every connection is a socket on each side.
func raiseFileLimit(n uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur >= n {
		return nil
	}
	if l.Max < n {
		return fmt.Errorf("open files: hard limit %d, the storm needs %d (raise it: ulimit -Hn)", l.Max, n)
	}
	l.Cur = n
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// hubProc is a hub in a process of its own.
type hubProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
}

func startHub(b *testing.B, spec string) *hubProc {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), hubEnv+"="+spec)
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &hubProc{cmd: cmd, stdin: in}
	b.Cleanup(p.stop)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("hub process: %v; stderr %s", err, stderr.String())
	}
	p.addr = strings.TrimSpace(line)
	return p
}

func (p *hubProc) url() string { return "ws://" + p.addr + wire.Path }

func (p *hubProc) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func (p *hubProc) mem(b *testing.B) mem {
	b.Helper()
	resp, err := http.Get("http://" + p.addr + "/storm/mem")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var m mem
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		b.Fatal(err)
	}
	return m
}

// outbox is a simulated terminal's queue: records built and sealed with the
// terminal's own code (terminal.Redemption, terminal.Seal), kept in memory
// in place of offline.Ledger's bbolt file (5,000 files would measure the
// disk of the machine running the terminals).
type outbox struct {
	mu    gosync.Mutex
	recs  []terminal.Sealed
	wm    uint64
	state terminal.ServerState
	done  func() // called once, when every record is acknowledged
	tally *tally
}

// tally counts the outcomes of every terminal: accepted, duplicate (a
// record resent after its acknowledgement was lost with a connection), or
// anything else (a conflict: none is expected).
type tally struct{ accepted, duplicate, other atomic.Int64 }

var _ terminal.Outbox = (*outbox)(nil)

func (o *outbox) HighSeq(context.Context) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return uint64(len(o.recs)), nil
}

func (o *outbox) Pending(_ context.Context, after uint64, n int) ([]terminal.Sealed, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if after >= uint64(len(o.recs)) {
		return nil, nil
	}
	return slices.Clone(o.recs[after:min(after+uint64(n), uint64(len(o.recs)))]), nil
}

func (o *outbox) Ack(_ context.Context, wm uint64, outs []terminal.Outcome) error {
	for _, out := range outs {
		switch out.Result {
		case terminal.Accepted:
			o.tally.accepted.Add(1)
		case terminal.Duplicate:
			o.tally.duplicate.Add(1)
		default:
			o.tally.other.Add(1)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if wm > o.wm {
		o.wm = wm
		if n := uint64(len(o.recs)); n > 0 && wm == n && o.done != nil {
			o.done()
			o.done = nil
		}
	}
	return nil
}

// Watermark is the acknowledged sequence (the client resends from it if
// acknowledgements were lost).
func (o *outbox) Watermark() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.wm
}

func (o *outbox) Unsynced(context.Context) (int, terminal.Fen, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.recs) - int(o.wm)
	return n, terminal.Fen(n) * terminal.Yuan(40), nil
}

func (o *outbox) LoadState(context.Context) (terminal.ServerState, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state, nil
}

func (o *outbox) SaveState(_ context.Context, s terminal.ServerState) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.state = s
	return nil
}

// queue seals a redemption of each code at noon into the outbox, as the
// terminal's ledger does (a JSON body, chained and signed).
func (o *outbox) queue(b *testing.B, cred wire.Credential, codes []string) {
	var prev [32]byte
	key := cred.PrivateKey()
	for i, code := range codes {
		v, err := terminal.ParseCode(code)
		if err != nil {
			b.Fatal(err)
		}
		seq := uint64(i + 1)
		total := v.SpendFen + terminal.Yuan(60)
		r := &terminal.Redemption{ID: terminal.RecordID(cred.TerminalID, seq), Kind: terminal.KindRedemption, Seq: seq,
			TerminalID: cred.TerminalID, MerchantID: cred.MerchantID, At: noon, Code: code, Voucher: v,
			Items:    []terminal.Item{{SKU: "rice-5kg", Name: "大米 5kg", Category: "grocery", Qty: 1, UnitPriceFen: total}},
			TotalFen: total, EligibleFen: total, DiscountFen: v.OffFen, PayableFen: total - v.OffFen}
		body, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		s := terminal.Seal(key, prev, seq, body)
		o.recs, prev = append(o.recs, s), s.Hash
	}
}

// fleet is the storm's terminals with their queues and clients.
type fleet struct {
	creds   []wire.Credential
	urls    []string
	boxes   []*outbox
	clients []*client.Client
	tally   tally
	logf    func(string, ...any) // the terminals' log (STORM_LOG)
}

func (f *fleet) newClient(i int) *client.Client {
	return client.New(client.Options{URL: f.urls[i], Credential: f.creds[i], Outbox: f.boxes[i], State: f.boxes[i],
		Logf: f.logf})
}

// online waits until every client is online (or the timeout).
func (f *fleet) online(b *testing.B, cs []*client.Client) {
	b.Helper()
	deadline := time.Now().Add(stormTimeout)
	for _, c := range cs {
		for !c.Status().Online {
			if time.Now().After(deadline) {
				b.Fatalf("a terminal never came online: %s", c.Status().LastError)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// closeAll closes the clients, at most 256 at a time.
func closeAll(cs []*client.Client) {
	var wg gosync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() { defer wg.Done(); _ = c.Close(); <-sem }()
	}
	wg.Wait()
}

// setup enrols the terminals on a hub open in this process (then closed),
// mints the vouchers they redeem, and returns the fleet without URLs.
func setup(b *testing.B, h *hub.Hub) (*fleet, [][]string) {
	b.Helper()
	ctx := context.Background()
	f := &fleet{creds: make([]wire.Credential, terminals), boxes: make([]*outbox, terminals)}
	for m := 0; m < terminals/perMerchant; m++ {
		if err := h.AddMerchant(ctx, terminal.Merchant{ID: fmt.Sprintf("M%04d", m), Name: fmt.Sprintf("商户%04d", m), Category: terminal.Retail}); err != nil {
			b.Fatal(err)
		}
	}
	var wg gosync.WaitGroup
	errs := make(chan error, terminals)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < terminals; i += 16 {
				cred, err := h.AddTerminal(ctx, fmt.Sprintf("M%04d", i/perMerchant), fmt.Sprintf("T%05d", i))
				if err != nil {
					errs <- err
					return
				}
				f.creds[i] = cred
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	from, until := terminal.ClaimDay(day)
	codes := make([][]string, terminals)
	const mintChunk = 10_000
	for i := 0; i < terminals; i += mintChunk / queued {
		n := min(mintChunk/queued, terminals-i)
		cs, err := h.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40),
			Holder: terminal.HolderID(0xA00000 + i), From: from, Until: until, N: n * queued, EachHolder: true})
		if err != nil {
			b.Fatal(err)
		}
		for j := range n {
			codes[i+j] = cs[j*queued : (j+1)*queued]
		}
	}
	for i := range f.boxes {
		f.boxes[i] = &outbox{tally: &f.tally}
	}
	f.logf = func(string, ...any) {}
	if path := os.Getenv("STORM_LOG"); path != "" {
		lf, err := os.Create(path + ".terminals")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = lf.Close() })
		f.logf = log.New(lf, "", log.Lmicroseconds).Printf
	}
	return f, codes
}

// storm runs the storm against the hubs: every terminal syncs once (so
// its later sales are within the offline rules), queues its records, then
// all reconnect at once; it reports the drain time and the hubs' memory
// per idle connection.
func storm(b *testing.B, f *fleet, codes [][]string, hubs []*hubProc, dbURL string) {
	for i := range f.creds {
		f.urls = append(f.urls, hubs[i%len(hubs)].url())
	}
	// The first sync of each terminal, a few at a time.
	first := make([]*client.Client, terminals)
	sem := make(chan struct{}, setupConcurrent)
	var wg gosync.WaitGroup
	for i := range first {
		first[i] = f.newClient(i)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := first[i].Open(); err != nil {
				b.Error(err)
				return
			}
			for !first[i].Status().Online {
				time.Sleep(2 * time.Millisecond)
			}
			_ = first[i].Close()
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	waitConns(b, hubs, 0)
	// Offline sales: 20 sealed records in each queue.
	var drained gosync.WaitGroup
	for i, o := range f.boxes {
		o.queue(b, f.creds[i], codes[i])
		drained.Add(1)
		o.done = drained.Done
	}
	f.clients = make([]*client.Client, terminals)
	for i := range f.clients {
		f.clients[i] = f.newClient(i)
	}
	runtime.GC()
	// CPU before: the hubs', this process's (the terminals'), PostgreSQL's.
	hubCPU := time.Duration(0)
	for _, p := range hubs {
		hubCPU -= p.mem(b).CPU
	}
	pgSince := func() time.Duration { return 0 }
	if dbURL != "" {
		pgSince = pgtest.ServerCPU(b, dbURL)
	}
	termCPU := -pgtest.ProcessCPU()

	// The storm: every terminal reconnects at once.
	b.StartTimer()
	t0 := time.Now()
	for _, c := range f.clients {
		if err := c.Open(); err != nil {
			b.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { drained.Wait(); close(done) }()
	if os.Getenv("STORM_PROGRESS") != "" {
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(time.Second):
				}
				online := 0
				for _, c := range f.clients {
					if c.Status().Online {
						online++
					}
				}
				fmt.Printf("%5.1fs: %d online, %d accepted, %d duplicates, %d otherwise\n", time.Since(t0).Seconds(), online,
					f.tally.accepted.Load(), f.tally.duplicate.Load(), f.tally.other.Load())
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(stormTimeout):
		b.Fatalf("not drained after %v: %d of %d records accepted", stormTimeout, f.tally.accepted.Load(), terminals*queued)
	}
	took := time.Since(t0)
	b.StopTimer()
	termCPU += pgtest.ProcessCPU()
	pgUsed := pgSince()
	for _, p := range hubs {
		hubCPU += p.mem(b).CPU
	}
	// Every record accepted once: a record whose acknowledgement was lost
	// with its connection comes back a duplicate when resent.
	if a, d, o := f.tally.accepted.Load(), f.tally.duplicate.Load(), f.tally.other.Load(); a+d != terminals*queued || o != 0 {
		b.Fatalf("%d records accepted, %d duplicates, %d otherwise; want %d accepted or duplicates", a, d, o, terminals*queued)
	}

	// Memory per idle connection: every terminal connected and idle, then
	// none; the difference over the connections, per hub process.
	f.online(b, f.clients)
	waitConns(b, hubs, terminals)
	time.Sleep(500 * time.Millisecond)
	busy := make([]mem, len(hubs))
	for i, p := range hubs {
		busy[i] = p.mem(b)
	}
	closeAll(f.clients)
	waitConns(b, hubs, 0)
	var heap, rss, gor float64
	for i, p := range hubs {
		idle := p.mem(b)
		n := float64(busy[i].Conns)
		heap += (float64(busy[i].Heap+busy[i].Stack) - float64(idle.Heap+idle.Stack)) / n
		rss += (float64(busy[i].RSS) - float64(idle.RSS)) / n
		gor += float64(busy[i].Goroutines-idle.Goroutines) / n
	}
	heap, rss, gor = heap/float64(len(hubs)), rss/float64(len(hubs)), gor/float64(len(hubs))
	b.ReportMetric(took.Seconds(), "drain-s")
	b.ReportMetric(took.Seconds()/drainGoal.Seconds(), "x-goal-10s")
	b.ReportMetric(float64(terminals*queued)/took.Seconds(), "records/s")
	b.ReportMetric(heap, "B/idle-conn")
	b.ReportMetric(heap/idleConnGoal, "x-goal-16KiB")
	b.ReportMetric(rss, "B-rss/idle-conn")
	b.ReportMetric(gor, "goroutines/conn")
	b.ReportMetric(termCPU.Seconds(), "cpu-s-terminals")
	b.ReportMetric(hubCPU.Seconds(), "cpu-s-hubs")
	b.ReportMetric(pgUsed.Seconds(), "cpu-s-postgres")
	fmt.Printf("storm: %d terminals × %d records on %d hub(s): drained in %.2f s (%.2f× the 10 s goal); per idle connection %.1f KiB heap+stacks (%.2f× the 16 KiB goal), %.1f KiB resident, %.1f goroutines\n",
		terminals, queued, len(hubs), took.Seconds(), took.Seconds()/drainGoal.Seconds(), heap/1024, heap/idleConnGoal, rss/1024, gor)
	fmt.Printf("storm: CPU during the drain: terminals %.1f s, hubs %.1f s, PostgreSQL %.1f s (%d cores × %.1f s = %.1f s)\n",
		termCPU.Seconds(), hubCPU.Seconds(), pgUsed.Seconds(), runtime.NumCPU(), took.Seconds(), float64(runtime.NumCPU())*took.Seconds())
}

// waitConns waits until every hub has n/len(hubs) terminals connected in all.
func waitConns(b *testing.B, hubs []*hubProc, n int) {
	b.Helper()
	deadline := time.Now().Add(stormTimeout)
	for {
		got := 0
		for _, p := range hubs {
			got += p.mem(b).Conns
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d terminals connected, want %d", got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkStorm is the reconnect storm: 5,000 terminals that synced once,
// went offline and sold 20 vouchers each reconnect at once, and drain their
// 100,000 records, against two hubs on one PostgreSQL database (postgres)
// or one hub on the embedded bbolt file (bolt); each hub is a process of
// its own. Run it with -benchtime 1x (a run takes a minute of setup):
// VOUCHERD_TEST_DB=... go test -run '^$' -bench Storm -benchtime 1x ./sync/storm
//
//	drain-s          first connection to the last acknowledgement
//	x-goal-10s       drain-s ÷ 10 s (the goal: below 1)
//	B/idle-conn      the hub's live heap and goroutine stacks per idle
//	                 authenticated connection (all connected after the
//	                 drain, minus none connected, after a GC, ÷ connections)
//	x-goal-16KiB     B/idle-conn ÷ 16 KiB (the goal: at most 1)
//	B-rss/idle-conn  the same difference of the process's resident set
//	cpu-s-terminals  CPU seconds of the terminals' process during the drain
//	cpu-s-hubs       CPU seconds of the hub processes during the drain
//	cpu-s-postgres   CPU seconds of PostgreSQL's processes during the drain
//	                 (0 for bolt, or a server on another machine)
//
// Knobs for looking into it: STORM_PROGRESS=1 prints the terminals online
// and the records acknowledged every second; STORM_MAXUNAUTH=N runs the
// hubs with Options.MaxUnauthenticated N (64 was the default before the
// storm); STORM_LOG=FILE writes each hub's log (with every group commit)
// to FILE.PID and the terminals' to FILE.terminals; STORM_CPUPROFILE=FILE and
// STORM_HEAPPROFILE=FILE write each hub process's CPU profile and its heap
// profile with every terminal connected (FILE.PID).
func BenchmarkStorm(b *testing.B) {
	if err := raiseFileLimit(2*terminals + 256); err != nil {
		b.Fatal(err)
	}
	b.Run("postgres", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			ctx := context.Background()
			dbURL := pgtest.DB(b)
			keyFile := filepath.Join(b.TempDir(), "issuing.key")
			if _, err := pgstore.Migrate(ctx, dbURL, pgstore.Options{KeyFile: keyFile}); err != nil {
				b.Fatal(err)
			}
			st, err := pgstore.Open(ctx, dbURL, pgstore.Options{KeyFile: keyFile})
			if err != nil {
				b.Fatal(err)
			}
			h, err := hub.New(st, hub.Options{Create: true, Now: func() time.Time { return noon }, Logf: b.Logf})
			if err != nil {
				b.Fatal(err)
			}
			f, codes := setup(b, h)
			if err := h.Close(); err != nil {
				b.Fatal(err)
			}
			spec := "pg " + dbURL + " " + keyFile
			storm(b, f, codes, []*hubProc{startHub(b, spec), startHub(b, spec)}, dbURL)
		}
	})
	b.Run("bolt", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			dir := b.TempDir()
			h, err := boltstore.OpenHub(dir, hub.Options{Create: true, Now: func() time.Time { return noon }, Logf: b.Logf})
			if err != nil {
				b.Fatal(err)
			}
			f, codes := setup(b, h)
			if err := h.Close(); err != nil {
				b.Fatal(err)
			}
			storm(b, f, codes, []*hubProc{startHub(b, "bolt "+dir)}, "")
		}
	})
}
