package client_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// BenchmarkDrainPostgres is BenchmarkDrain against a hub on PostgreSQL: a
// backlog of 100,000 queued redemptions in a real offline ledger drains over
// a loopback websocket into the database. Beside it, in the same run and on
// the same server, three bare batched inserts of rows of 300 bytes
// (1,000 rows per transaction, each its own COMMIT) into tables keyed like
// the records, one for each reading of "a bare batched insert": pgx COPY
// (the fastest bulk path), a pgx.Batch of 1,000 single-row INSERTs sent in
// one round trip, and one multi-row INSERT ... VALUES of 1,000 rows. Run it
// against a server with its production settings (fsync,
// synchronous_commit on): VOUCHERD_TEST_DB=... go test -run '^$' -bench DrainPostgres ./sync/client
//
//	records/s             redemptions acknowledged per second, connect to last ack
//	pg-rows/s             the bare COPY rate
//	x-bare                records/s ÷ pg-rows/s (against COPY)
//	batch-rows/s          the bare pgx.Batch of INSERTs rate
//	x-bare-batch          records/s ÷ batch-rows/s
//	values-rows/s         the bare multi-row INSERT ... VALUES rate
//	x-bare-values         records/s ÷ values-rows/s
//	go-cpu-us/rec         CPU of this process (the terminal's client and ledger,
//	                      the hub's reader and committer) per record drained
//	pg-cpu-us/rec         CPU of the database server's processes per record
//	                      drained (only when the server runs on this machine)
//	commit-us/rec         time in the hub's group commits (each from its
//	                      decisions to its commit's result; two overlap on
//	                      PostgreSQL, so the sum can pass the drain's time)
//	                      per record
//	pg-cpu-us/bare-row    the same for a row of the bare COPY
//	pg-cpu-us/batch-row   ... of the bare pgx.Batch
//	pg-cpu-us/values-row  ... of the bare INSERT ... VALUES
//
// $DRAIN_CPUPROFILE names a file for a CPU profile of the drain alone, as
// in BenchmarkDrain.
func BenchmarkDrainPostgres(b *testing.B) {
	const (
		backlog = 100_000
		batch   = 1000
	)
	ctx := context.Background()
	var drained time.Duration
	var pgDrain, goDrain time.Duration // CPU: the server's processes, this process
	var commit time.Duration           // the hub's group commits, start to end
	var bare, pgBare [len(bareModes)]time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dbURL, keyFile := migratedDB(b)
		for m := range bareModes {
			took, cpu := bareBatchedInsert(b, dbURL, bareModes[m], backlog, batch)
			bare[m], pgBare[m] = bare[m]+took, pgBare[m]+cpu
		}
		var committing atomic.Int64 // ns in group commits: the committer's serial stage
		in := newInstance(b, dbURL, keyFile, hub.Options{Create: true, Hooks: hub.Hooks{GroupCommit: func(_, _ int, took time.Duration, _ error) {
			committing.Add(int64(took))
		}}})
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
		led := openLedger(b, cred)
		firstSync(b, in.url(), cred, led)
		commitSales(b, led, codes, batch)
		c := client.New(client.Options{URL: in.url(), Credential: cred, Outbox: led, State: led,
			BatchSize: batch, Logf: func(string, ...any) {}})
		pg := pgtest.ServerCPU(b, dbURL)
		cpu0 := pgtest.ProcessCPU()
		committing.Store(0)
		stopProfile := pgtest.CPUProfile(b, "DRAIN_CPUPROFILE", strconv.Itoa(i))
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
		stopProfile()
		goDrain += pgtest.ProcessCPU() - cpu0
		pgDrain += pg()
		commit += time.Duration(committing.Load())
		_ = c.Close()
		_ = led.Close()
	}
	n := float64(b.N * backlog)
	if pgDrain > 0 {
		b.ReportMetric(float64(pgDrain.Microseconds())/n, "pg-cpu-us/rec")
	}
	b.ReportMetric(float64(goDrain.Microseconds())/n, "go-cpu-us/rec")
	b.ReportMetric(float64(commit.Microseconds())/n, "commit-us/rec")
	rate := n / drained.Seconds()
	b.ReportMetric(rate, "records/s")
	for m, mode := range bareModes {
		if pgBare[m] > 0 {
			b.ReportMetric(float64(pgBare[m].Microseconds())/n, "pg-cpu-us/"+mode.cpuRow)
		}
		bareRate := n / bare[m].Seconds()
		b.ReportMetric(bareRate, mode.rate)
		b.ReportMetric(rate/bareRate, mode.ratio)
	}
}

// bareMode is one way of a bare batched insert, with the names of its metrics.
type bareMode struct {
	table               string
	rate, ratio, cpuRow string
}

// bareModes are the bare batched inserts BenchmarkDrainPostgres measures:
// COPY first (its metrics keep the names they had when it was the only one).
var bareModes = [...]bareMode{
	{"bare_copy", "pg-rows/s", "x-bare", "bare-row"},
	{"bare_batch", "batch-rows/s", "x-bare-batch", "batch-row"},
	{"bare_values", "values-rows/s", "x-bare-values", "values-row"},
}

// bareBatchedInsert writes n rows (a terminal id, a sequence, 300 bytes)
// into a new table keyed (terminal, seq), batch per transaction, the way
// mode says: one COPY, a pgx.Batch of single-row INSERTs (one round trip)
// or one multi-row INSERT ... VALUES. It returns the time and the database
// server's CPU (pgtest.ServerCPU).
func bareBatchedInsert(b *testing.B, url string, mode bareMode, n, batch int) (time.Duration, time.Duration) {
	ctx := context.Background()
	pg := pgtest.ServerCPU(b, url)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	table := pgx.Identifier{mode.table}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (terminal_id text, seq bigint, body bytea, PRIMARY KEY (terminal_id, seq))"); err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte{'v'}, 300)
	insert := "INSERT INTO " + table + " (terminal_id, seq, body) VALUES ($1, $2, $3)"
	t0 := time.Now()
	for j := 0; j < n; j += batch {
		rows := min(batch, n-j)
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			switch mode.table {
			case "bare_copy":
				_, err := tx.CopyFrom(ctx, pgx.Identifier{mode.table}, []string{"terminal_id", "seq", "body"},
					pgx.CopyFromSlice(rows, func(i int) ([]any, error) { return []any{"T1", int64(j + i + 1), body}, nil }))
				return err
			case "bare_batch":
				var bt pgx.Batch
				for i := range rows {
					bt.Queue(insert, "T1", int64(j+i+1), body)
				}
				return tx.SendBatch(ctx, &bt).Close()
			default:
				var q strings.Builder
				q.WriteString("INSERT INTO " + table + " (terminal_id, seq, body) VALUES ")
				args := make([]any, 0, 3*rows)
				for i := range rows {
					if i > 0 {
						q.WriteString(", ")
					}
					fmt.Fprintf(&q, "($%d, $%d, $%d)", 3*i+1, 3*i+2, 3*i+3)
					args = append(args, "T1", int64(j+i+1), body)
				}
				_, err := tx.Exec(ctx, q.String(), args...)
				return err
			}
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(t0)
	return took, pg() // before conn closes: its backend is counted
}
