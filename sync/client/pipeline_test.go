package client_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/terminal"
)

// failingPipeline is a PostgreSQL store whose every third pipelined group
// commit is cancelled once its decisions are made, before it writes (or,
// by chance, while it commits: its result is then unknown).
type failingPipeline struct {
	*pgstore.Store
	n, cut atomic.Int64
}

func (f *failingPipeline) CommitAfter(ctx context.Context, keys *hub.Keys, fn func(hub.Tx) error, prev hub.Pending) (hub.Pending, error) {
	cctx, cancel := context.WithCancel(ctx)
	p, err := f.Store.CommitAfter(cctx, keys, fn, prev)
	if err != nil {
		cancel()
		return nil, err
	}
	if f.n.Add(1)%3 == 0 {
		f.cut.Add(1)
		cancel()
	} else {
		go func() { <-p.Done(); cancel() }()
	}
	return p, nil
}

// TestClient_PipelinedCommitsFail drains a backlog into a hub whose
// pipelined group commits fail now and then after their decisions were
// made (and so the groups decided after them, over what they left): each
// failed group runs again alone, nothing is acknowledged that is not
// stored, and the server ends with every record once, accepted.
func TestClient_PipelinedCommitsFail(t *testing.T) {
	dbURL, keyFile := migratedDB(t)
	ctx := context.Background()
	var fp *failingPipeline
	in := newInstance(t, dbURL, keyFile, hub.Options{Create: true}, func(s *pgstore.Store) hub.Store {
		fp = &failingPipeline{Store: s}
		return fp
	})
	if err := in.hub.AddMerchant(ctx, terminal.Merchant{ID: "M1", Name: "沁水百货", Category: terminal.Retail}); err != nil {
		t.Fatal(err)
	}
	cred, err := in.hub.AddTerminal(ctx, "M1", "T1")
	if err != nil {
		t.Fatal(err)
	}
	from, until := terminal.ClaimDay(day)
	const n = 3000
	codes, err := in.hub.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200),
		OffFen: terminal.Yuan(40), Holder: 0xABC, From: from, Until: until, N: n, EachHolder: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.hub.SetParams(ctx, terminal.Params{OfflineLimitFen: terminal.Yuan(100_000_000)}); err != nil {
		t.Fatal(err)
	}
	copts := fastOpts()
	copts.BatchSize = 50
	l := mustLane(t, cred, in.url(), copts).firstSync()
	l.commit(codes, 500)
	waitWatermark(t, in.hub, l, n)
	if fp.cut.Load() == 0 {
		t.Fatalf("no pipelined commit failed (%d in all): the test tested nothing", fp.n.Load())
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var recs, seqs, accepted, live, conflicts int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT seq), count(*) FILTER (WHERE result = 'accepted'),
		(SELECT count(*) FROM voucher_live), (SELECT count(*) FROM conflicts) FROM records`).Scan(&recs, &seqs, &accepted, &live, &conflicts); err != nil {
		t.Fatal(err)
	}
	if recs != n || seqs != n || accepted != n || live != n || conflicts != 0 {
		t.Fatalf("server holds %d records (%d sequences, %d accepted), %d live redemptions, %d conflicts; want %d of each and no conflict",
			recs, seqs, accepted, live, conflicts, n)
	}
	cs, err := l.ledger.Conflicts(ctx)
	if err != nil || len(cs) != 0 {
		t.Fatalf("terminal's conflicts: %+v %v", cs, err)
	}
	t.Logf("%d pipelined commits, %d cut", fp.n.Load(), fp.cut.Load())
}
