package client_test

import (
	"bytes"
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// BenchmarkDrainPostgres is BenchmarkDrain against a hub on PostgreSQL: a
// backlog of 100,000 queued redemptions in a real offline ledger drains over
// a loopback websocket into the database. Beside it, in the same run and on
// the same server, a bare batched insert of rows of the same size (pgx COPY,
// 1,000 rows per transaction, each its own COMMIT) into a table keyed like
// the records. Run it against a server with its production settings (fsync,
// synchronous_commit on): VOUCHERD_TEST_DB=... go test -run '^$' -bench DrainPostgres ./sync/client
//
//	records/s           redemptions acknowledged per second, connect to last ack
//	pg-rows/s           the bare batched-insert rate
//	x-bare              records/s ÷ pg-rows/s
//	go-cpu-us/rec       CPU of this process (the terminal's client and ledger,
//	                    the hub's reader and committer) per record drained
//	pg-cpu-us/rec       CPU of the database server's processes per record
//	                    drained (only when the server runs on this machine)
//	pg-cpu-us/bare-row  the same for a row of the bare insert
func BenchmarkDrainPostgres(b *testing.B) {
	const (
		backlog = 100_000
		batch   = 1000
	)
	ctx := context.Background()
	var drained, bare time.Duration
	var pgDrain, pgBare, goDrain time.Duration // CPU: the server's processes, this process
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dbURL := pgtest.DB(b)
		keyFile := filepath.Join(b.TempDir(), "issuing.key")
		if _, err := pgstore.Migrate(ctx, dbURL, pgstore.Options{KeyFile: keyFile}); err != nil {
			b.Fatal(err)
		}
		took, cpu := bareBatchedInsert(b, dbURL, backlog, batch)
		bare, pgBare = bare+took, pgBare+cpu
		in := mustInstance(b, dbURL, keyFile, true)
		if err := in.hub.AddMerchant(ctx, terminal.Merchant{ID: "M1", Name: "沁水百货", Category: terminal.Retail}); err != nil {
			b.Fatal(err)
		}
		cred, err := in.hub.AddTerminal(ctx, "M1", "T1")
		if err != nil {
			b.Fatal(err)
		}
		liftOfflineLimit(b, in.hub)
		from, until := terminal.ClaimDay(day)
		codes, err := in.hub.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200),
			OffFen: terminal.Yuan(40), Holder: 0xABC, From: from, Until: until, N: backlog, EachHolder: true})
		if err != nil {
			b.Fatal(err)
		}
		led, err := offline.Open(filepath.Join(b.TempDir(), "terminal.db"), offline.Options{
			TerminalID: cred.TerminalID, MerchantID: cred.MerchantID, Key: cred.PrivateKey(), MaxSize: 4 << 30})
		if err != nil {
			b.Fatal(err)
		}
		firstSync(b, in.url(), cred, led)
		for j := 0; j < backlog; j += batch {
			recs := make([]*terminal.Redemption, 0, batch)
			for _, c := range codes[j:min(j+batch, backlog)] {
				recs = append(recs, sale(b, c))
			}
			if err := led.CommitMany(ctx, recs); err != nil {
				b.Fatal(err)
			}
		}
		c := client.New(client.Options{URL: in.url(), Credential: cred, Outbox: led, State: led,
			BatchSize: batch, Logf: func(string, ...any) {}})
		pg := pgtest.ServerCPU(b, dbURL)
		cpu0 := processCPU()
		b.StartTimer()
		t0 := time.Now()
		if err := c.Open(); err != nil {
			b.Fatal(err)
		}
		for led.Watermark() < backlog {
			time.Sleep(2 * time.Millisecond)
		}
		drained += time.Since(t0)
		b.StopTimer()
		goDrain += processCPU() - cpu0
		pgDrain += pg()
		_ = c.Close()
		_ = led.Close()
	}
	if pgBare > 0 {
		b.ReportMetric(float64(pgDrain.Microseconds())/float64(b.N*backlog), "pg-cpu-us/rec")
		b.ReportMetric(float64(pgBare.Microseconds())/float64(b.N*backlog), "pg-cpu-us/bare-row")
	}
	b.ReportMetric(float64(goDrain.Microseconds())/float64(b.N*backlog), "go-cpu-us/rec")
	rate := float64(b.N*backlog) / drained.Seconds()
	bareRate := float64(b.N*backlog) / bare.Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(bareRate, "pg-rows/s")
	b.ReportMetric(rate/bareRate, "x-bare")
}

// processCPU returns the CPU time this process used so far (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareBatchedInsert copies n rows (a terminal id, a sequence, 300 bytes)
// into a table keyed (terminal, seq), batch per transaction, and returns the
// time and the database server's CPU (pgtest.ServerCPU).
func bareBatchedInsert(b *testing.B, url string, n, batch int) (time.Duration, time.Duration) {
	ctx := context.Background()
	pg := pgtest.ServerCPU(b, url)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE bare (terminal_id text, seq bigint, body bytea, PRIMARY KEY (terminal_id, seq))"); err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte{'v'}, 300)
	t0 := time.Now()
	for j := 0; j < n; j += batch {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"bare"}, []string{"terminal_id", "seq", "body"},
				pgx.CopyFromSlice(min(batch, n-j), func(i int) ([]any, error) { return []any{"T1", int64(j + i + 1), body}, nil }))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(t0)
	return took, pg() // before conn closes: its backend is counted
}
