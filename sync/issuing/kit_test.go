package issuing_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// day is 2022-10-01 (UTC+8), in the programme's first round.
var day = time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)

var issuerKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

var (
	r50  = terminal.Denomination{SpendFen: terminal.Yuan(50), OffFen: terminal.Yuan(10)}
	r200 = terminal.Denomination{SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40)}
	h500 = terminal.Denomination{SpendFen: terminal.Yuan(500), OffFen: terminal.Yuan(100)}
)

// clock is a settable clock.
type clock struct {
	mu gosync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// The engines every issuing test runs on: the embedded bbolt file and
// PostgreSQL ($VOUCHERD_TEST_DB; skipped without it, failed in CI).
const (
	engineBolt = "bolt"
	enginePG   = "postgres"
)

// onEngines runs test on each engine.
func onEngines(t *testing.T, test func(t *testing.T, engine string)) {
	for _, e := range []string{engineBolt, enginePG} {
		t.Run(e, func(t *testing.T) { test(t, e) })
	}
}

// kit is an issuing service on a real store (a bbolt file, or a fresh
// PostgreSQL database), served on loopback.
type kit struct {
	t      testing.TB
	engine string
	path   string // bbolt directory, or PostgreSQL URL
	keys   string // PostgreSQL key file
	db     *boltstore.Store
	pg     *pgstore.Store
	clock  *clock
	svc    *issuing.Service
	srv    *httptest.Server
}

func newKit(tb testing.TB, engine string, now time.Time) *kit {
	tb.Helper()
	k := &kit{t: tb, engine: engine, path: tb.TempDir(), clock: &clock{t: now}}
	if engine == enginePG {
		k.path, k.keys = pgtest.DB(tb), filepath.Join(tb.TempDir(), "issuing.key")
		if _, err := pgstore.Migrate(context.Background(), k.path, pgstore.Options{KeyFile: k.keys}); err != nil {
			tb.Fatal(err)
		}
	}
	k.open()
	tb.Cleanup(k.close)
	return k
}

func (k *kit) open() {
	k.t.Helper()
	var st issuing.Store
	if k.engine == enginePG {
		pg, err := pgstore.Open(context.Background(), k.path, pgstore.Options{KeyFile: k.keys})
		if err != nil {
			k.t.Fatal(err)
		}
		k.pg, st = pg, pg.Issuing()
	} else {
		db, err := boltstore.Open(k.path, boltstore.Options{Create: true})
		if err != nil {
			k.t.Fatal(err)
		}
		if st, err = db.Issuing(); err != nil {
			k.t.Fatal(err)
		}
		k.db = db
	}
	svc, err := issuing.Open(st, issuing.Options{Now: k.clock.Now, Signer: func() ed25519.PrivateKey { return issuerKey },
		Logf: func(string, ...any) {}})
	if err != nil {
		k.t.Fatal(err)
	}
	k.svc, k.srv = svc, httptest.NewServer(svc.Handler())
}

// close stops the service and, on bbolt, checks the file's integrity.
func (k *kit) close() {
	if k.svc == nil {
		return
	}
	k.srv.Close()
	if err := k.svc.Close(); err != nil {
		k.t.Error(err)
	}
	k.svc = nil
	if k.pg != nil {
		_ = k.pg.Close()
		k.pg = nil
		return
	}
	for _, err := range k.db.Check(context.Background()) {
		k.t.Errorf("bbolt check: %v", err)
	}
	if err := k.db.Close(); err != nil {
		k.t.Error(err)
	}
}

func (k *kit) restart() { k.t.Helper(); k.close(); k.open() }

func (k *kit) drop(c terminal.Category, d terminal.Denomination, count int) terminal.Drop {
	k.t.Helper()
	dr, err := k.svc.AddDrop(context.Background(), issuing.DropRequest{Category: c, SpendFen: d.SpendFen, OffFen: d.OffFen,
		Count: count, Day: terminal.Day(k.clock.Now()).Format(time.DateOnly)})
	if err != nil {
		k.t.Fatal(err)
	}
	return dr
}

// answer is an HTTP answer of the claim API.
type answer struct {
	status int
	issued issuing.Issued
	code   string // error.code
	raw    string
}

func (k *kit) post(key string, body string) answer {
	req, err := http.NewRequest(http.MethodPost, k.srv.URL+"/v1/claims", bytes.NewBufferString(body))
	if err != nil {
		k.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return k.do(req)
}

// postAs posts body with another Content-Type (a browser's form).
func (k *kit) postAs(contentType, body string) answer {
	req, err := http.NewRequest(http.MethodPost, k.srv.URL+"/v1/claims", bytes.NewBufferString(body))
	if err != nil {
		k.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return k.do(req)
}

func (k *kit) do(req *http.Request) answer {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Error(err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(b)}
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(b, &a.issued); err != nil {
			k.t.Errorf("201 body %s: %v", b, err)
		}
	} else {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			k.t.Errorf("%d answer %s: want {\"error\":{\"code\",\"message\"}}", resp.StatusCode, b)
		}
		a.code = e.Error.Code
	}
	return a
}

func claimBody(holder string, c terminal.Category, d terminal.Denomination) string {
	b, _ := json.Marshal(map[string]any{"holder": holder, "category": c, "spend_fen": d.SpendFen, "off_fen": d.OffFen})
	return string(b)
}

func (k *kit) pool() *issuing.Pool {
	k.t.Helper()
	p, err := k.svc.Pool(context.Background(), k.clock.Now())
	if err != nil {
		k.t.Fatal(err)
	}
	if err := terminal.CheckPool(p.Lines); err != nil {
		k.t.Fatal(err)
	}
	return p
}

func line(p *issuing.Pool, c terminal.Category) terminal.PoolLine {
	for _, l := range p.Lines {
		if l.Category == c {
			return l
		}
	}
	return terminal.PoolLine{}
}

type ed25519PublicKey = ed25519.PublicKey

type issuingRemote = issuing.Remote

func dropReq(c terminal.Category, d terminal.Denomination, n int, day string) issuing.DropRequest {
	return issuing.DropRequest{Category: c, SpendFen: d.SpendFen, OffFen: d.OffFen, Count: n, Day: day}
}
