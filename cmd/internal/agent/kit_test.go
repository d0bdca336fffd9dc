package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/drivers/serial"
	firmwaresim "github.com/voucherpos/voucherpos/firmware-sim"
	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// issuer is the test's voucher issuer key.
var issuer = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// clock runs at real speed from noon (UTC+8) of today, so vouchers of
// today are valid whenever the test runs.
type clock struct{ base, start time.Time }

func newClock() *clock {
	return &clock{base: terminal.Day(time.Now()).Add(12 * time.Hour), start: time.Now()}
}

func (c *clock) Now() time.Time { return c.base.Add(time.Since(c.start)) }

// kit is an agent in process, offline, with a synced server state stored
// in its ledger and (optionally) a simulated scanner on a pty.
type kit struct {
	t     testing.TB
	a     *agent.Agent
	sim   *firmwaresim.Sim
	clock *clock
	cred  wire.Credential
	ids   atomic.Uint64
}

func credential() wire.Credential {
	return wire.Credential{TerminalID: "T1", MerchantID: "M1", Seed: bytes.Repeat([]byte{1}, ed25519.SeedSize)}
}

func serverState(now time.Time) terminal.ServerState {
	pub := issuer.Public().(ed25519.PublicKey)
	return terminal.ServerState{
		Merchant:   terminal.Merchant{ID: "M1", Name: "沁水百货", Category: terminal.Retail, Region: 140521},
		IssuerKeys: []terminal.IssuerKey{{ID: terminal.KeyIDOf(pub), Public: pub}},
		ServerTime: now.Add(-time.Minute), LocalTime: now.Add(-time.Minute),
	}
}

// startKit starts an offline agent whose ledger holds a server state synced
// a minute ago.
func startKit(t testing.TB, withScanner bool) *kit {
	t.Helper()
	k := &kit{t: t, clock: newClock(), cred: credential()}
	dir := t.TempDir()
	l, err := offline.Open(filepath.Join(dir, agent.LedgerFile), offline.Options{TerminalID: "T1", MerchantID: "M1", Key: k.cred.PrivateKey()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SaveState(context.Background(), serverState(k.clock.Now())); err != nil {
		t.Fatal(err)
	}
	l.Close()
	opts := agent.Options{DataDir: dir, Credential: k.cred, HTTP: "127.0.0.1:0", Now: k.clock.Now, Log: testLog(t)}
	if withScanner {
		k.sim, err = firmwaresim.Start(context.Background(), firmwaresim.Config{Link: filepath.Join(dir, "scanner"), Logger: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.sim.Close() })
		opts.Scanner = serial.Config{Device: k.sim.Path(), Profile: serial.HoneywellProfile()}
	}
	k.a = agent.New(opts)
	if err := k.a.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.a.Close(); err != nil {
			t.Error(err)
		}
	})
	return k
}

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// code mints a retail voucher of today, spend X get Y off, for a new holder.
func (k *kit) code(c terminal.Category, spend, off terminal.Fen) string {
	k.t.Helper()
	n := k.ids.Add(1)
	from, until := terminal.ClaimDay(k.clock.Now())
	v := terminal.Voucher{ID: terminal.VoucherID(1000 + n), Holder: terminal.HolderID(5000 + n), Category: c,
		SpendFen: spend, OffFen: off, ValidFrom: from, ValidUntil: until, Region: 140521, Campaign: 2022, Round: 1}
	if c == terminal.Love {
		v.SpendFen = 0
	}
	s, err := terminal.Encode(v, issuer)
	if err != nil {
		k.t.Fatal(err)
	}
	return s
}

type answer struct {
	status int
	body   []byte
	hdr    http.Header
}

func (a answer) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %d %s: %v", a.status, a.body, err)
	}
}

func (a answer) errCode() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(a.body, &e)
	return e.Error.Code
}

func (k *kit) do(method, path, body string, hdr ...string) answer {
	k.t.Helper()
	req, err := http.NewRequest(method, k.a.URL()+path, strings.NewReader(body))
	if err != nil {
		k.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: b, hdr: resp.Header}
}

// checkout is the API's view of a checkout.
type checkout struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	TotalFen     int64  `json:"total_fen"`
	EligibleFen  int64  `json:"eligible_fen"`
	DiscountFen  int64  `json:"discount_fen"`
	PayableFen   int64  `json:"payable_fen"`
	RedemptionID string `json:"redemption_id"`
	Voucher      *struct {
		ID string `json:"id"`
	} `json:"voucher"`
	Decline *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"decline"`
}

func (k *kit) open(items string) checkout {
	k.t.Helper()
	a := k.do("POST", "/api/v1/checkouts", `{"items":`+items+`}`)
	if a.status != http.StatusCreated {
		k.t.Fatalf("open: %d %s", a.status, a.body)
	}
	var co checkout
	a.json(k.t, &co)
	return co
}

func (k *kit) post(path, body string, want int) checkout {
	k.t.Helper()
	a := k.do("POST", path, body)
	if a.status != want {
		k.t.Fatalf("POST %s: %d %s, want %d", path, a.status, a.body, want)
	}
	var co checkout
	a.json(k.t, &co)
	return co
}

// events connects to /api/v1/events and returns a function reading the
// next lane event of kind (skipping others).
func (k *kit) events() func(kind string) map[string]any {
	k.t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+k.a.Addr()+"/api/v1/events", nil)
	if err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() { ws.Close() })
	var hello struct{ Type string }
	if err := ws.ReadJSON(&hello); err != nil || hello.Type != "hello" {
		k.t.Fatalf("events: no hello: %v", err)
	}
	return func(kind string) map[string]any {
		k.t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			var m struct {
				Type  string         `json:"type"`
				Event map[string]any `json:"event"`
			}
			if err := ws.ReadJSON(&m); err != nil {
				k.t.Fatalf("events: waiting for %s: %v", kind, err)
			}
			if m.Type == "lane" && m.Event["kind"] == kind {
				return m.Event
			}
		}
	}
}

const basket = `[{"sku":"rice","name":"大米","category":"grocery","qty":2,"unit_price_fen":10000}]`
