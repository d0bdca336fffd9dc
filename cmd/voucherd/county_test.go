package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent/stack"
	"github.com/voucherpos/voucherpos/cmd/internal/county"
	"github.com/voucherpos/voucherpos/cmd/internal/till"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// countyDay is a day played through real agents (simulated scanners on
// ptys, bbolt ledgers, websockets) and a real hub over loopback HTTP:
// posdemo's day (online and love redemptions, declines, an outage with an
// offline sale and the same voucher on both tills, a full refund), then a
// partial refund, two linked just-over-threshold sales and plain sales.
type countyDay struct {
	s       *stack.Stack
	dir     string // the hub's data directory
	close   func() // stops the stack, once
	handler http.Handler
	srv     *httptest.Server
	day     string
	now     func() time.Time
}

// playCountyDay plays the day on a hub with adminToken ("": loopback
// callers only) and serves voucherd's handler for it on loopback.
func playCountyDay(t *testing.T, adminToken string) *countyDay {
	t.Helper()
	ctx := context.Background()
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
	dir := t.TempDir()
	s, err := stack.Start(ctx, stack.Options{Dir: dir, Terminals: []string{"T1", "T2"}, Now: now, Advance: advance,
		Log: slog.New(slog.DiscardHandler), AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	steps, err := s.PlayDay(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		if !st.OK {
			t.Fatalf("day step %s: expected %s, got %s", st.Title, st.Expect, st.Got)
		}
	}
	t1, t2 := s.Terminals[0], s.Terminals[1]
	item := func(sku string, price terminal.Fen) terminal.Item {
		return terminal.Item{SKU: sku, Name: sku, Category: "grocery", Qty: 1, UnitPriceFen: price}
	}
	sale := func(term *stack.Terminal, holder terminal.HolderID, items ...terminal.Item) string {
		t.Helper()
		code, err := s.Today(ctx, terminal.Retail, 200_00, 40_00, holder)
		if err != nil {
			t.Fatal(err)
		}
		co, err := term.Open(ctx, items...)
		if err != nil {
			t.Fatal(err)
		}
		if err := term.Call(ctx, "POST", "/api/v1/checkouts/"+co.ID+"/vouchers", map[string]string{"code": code}, &co); err != nil || co.Decline != nil {
			t.Fatalf("voucher on %s: %v %+v", co.ID, err, co.Decline)
		}
		done, err := term.Complete(ctx, co.ID)
		if err != nil {
			t.Fatal(err)
		}
		advance(3 * time.Minute)
		return done.RedemptionID
	}
	// A partial refund: the tea of a ¥300 basket.
	id := sale(t2, 0xB001, item("oil", 250_00), item("tea", 50_00))
	var ans till.RefundAnswer
	if err := t2.Call(ctx, "POST", "/api/v1/redemptions/"+id+"/refund", map[string]any{"items": []map[string]any{{"sku": "tea", "qty": 1}}}, &ans); err != nil {
		t.Fatal(err)
	}
	if ans.VoucherReturned || ans.RefundFen != 50_00-6_67 { // voucher share ⌈¥40 × 50/300⌉ = ¥6.67
		t.Fatalf("partial refund %+v, want ¥43.33 back and the voucher kept", ans)
	}
	// Two baskets just over the threshold in a row: the second is flagged linked.
	sale(t2, 0xB002, item("wine", 200_50))
	sale(t2, 0xB003, item("wine", 201_00))
	for i := range 16 {
		sale(t1, terminal.HolderID(0xC000+i), item("coat", terminal.Fen(300_00+i*100)))
	}
	for _, term := range s.Terminals {
		if err := term.WaitSynced(ctx, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	h := countyHandler(s.Hub, s.Issuing, s.Issuing.Wrap(s.Hub.Handler()))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &countyDay{s: s, dir: filepath.Join(dir, "hub"), close: stop, handler: h, srv: srv,
		day: terminal.Day(now()).Format(time.DateOnly), now: now}
}

// TestCounty_SameMoneyEverywhere: the agents' days, their dashboards'
// JSON, `voucherd report` and `voucherd report programme` show the same
// subsidy, sales and leverage to the fen for a day with every record kind.
func TestCounty_SameMoneyEverywhere(t *testing.T) {
	d := playCountyDay(t, "")
	ctx := context.Background()
	var agents, dashboards terminal.Account
	for _, term := range d.s.Terminals {
		rep, err := till.DayReport(ctx, term.Agent.Ledger(), d.now())
		if err != nil {
			t.Fatal(err)
		}
		agents.Merge(&rep.Totals)
		var dash struct {
			Totals terminal.Account `json:"totals"`
		}
		if err := term.Call(ctx, "GET", "/api/v1/redemptions?day="+d.day, nil, &dash); err != nil {
			t.Fatal(err)
		}
		dashboards.Merge(&dash.Totals)
	}
	var server hub.Report
	if err := json.Unmarshal([]byte(voucherd(t, 0, "report", "-day", d.day, "-server", d.srv.URL, "-format", "json")), &server); err != nil {
		t.Fatal(err)
	}
	var prog county.Report
	if err := json.Unmarshal([]byte(voucherd(t, 0, "report", "programme", "-from", d.day, "-until", d.day, "-server", d.srv.URL, "-format", "json")), &prog); err != nil {
		t.Fatal(err)
	}
	got := map[string]terminal.Account{"agents' day": agents, "dashboards' JSON": dashboards,
		"voucherd report": server.Total.Account, "voucherd report programme": prog.Total}
	for name, a := range got {
		if a != agents {
			t.Errorf("%s:\n%+v\nagents' day:\n%+v", name, a, agents)
		}
	}
	a := agents
	t.Logf("subsidy %s, net sales %s, leverage %s", a.SubsidyFen, a.NetSalesFen, a.Leverage)
	if a.Redemptions < 20 || a.Refunds != 2 || a.VouchersReturned != 1 || a.Offline < 2 || a.Flagged < 1 ||
		a.Conflicts.Redemptions != 1 || a.Pending != (terminal.Apart{}) || a.SubsidyReturnedFen != 40_00+6_67 {
		t.Errorf("the day lacks a record kind: %+v", a)
	}
	if want := terminal.Leverage(a.NetSalesFen, a.SubsidyFen); a.Leverage != want || a.Leverage == 0 {
		t.Errorf("leverage %s, want %s", a.Leverage, want)
	}
	// The tables print the same figures.
	table := voucherd(t, 0, "report", "-day", d.day, "-server", d.srv.URL)
	progTable := voucherd(t, 0, "report", "programme", "-from", d.day, "-until", d.day, "-server", d.srv.URL)
	var agentTable strings.Builder
	if err := d.s.Report(ctx, d.s.Terminals[0], &agentTable); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"voucherd report": table, "voucherd report programme": progTable} {
		for _, want := range []string{"补贴 subsidy " + a.SubsidyFen.String(), "带动比 leverage " + a.Leverage.String()} {
			if !strings.Contains(out, want) {
				t.Errorf("%s table lacks %q:\n%s", name, want, out)
			}
		}
	}
	if !strings.Contains(agentTable.String(), "补贴 subsidy ") {
		t.Errorf("agent's table lacks the subsidy line:\n%s", agentTable.String())
	}
}

// TestCounty_Audit: the same seed draws the same sample, another seed
// another; a 10% sample holds at least 10% and every record of the kinds
// that must be in it; verify passes, and fails with one digit changed.
func TestCounty_Audit(t *testing.T) {
	d := playCountyDay(t, "")
	sample := func(rate, seed string) (string, *county.Manifest) {
		dir := t.TempDir()
		voucherd(t, 0, "audit", "sample", "-from", d.day, "-until", d.day, "-rate", rate, "-seed", seed, "-out", dir, "-server", d.srv.URL)
		raw, err := os.ReadFile(filepath.Join(dir, "sample.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m county.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return dir, &m
	}
	ids := func(m *county.Manifest) []string {
		var out []string
		for _, p := range m.Records {
			out = append(out, p.ID)
		}
		return out
	}
	_, a := sample("0.5", "county-2022")
	_, b := sample("0.5", "county-2022")
	_, c := sample("0.5", "another seed")
	if !slices.Equal(ids(a), ids(b)) {
		t.Errorf("one seed, two samples:\n%v\n%v", ids(a), ids(b))
	}
	if slices.Equal(ids(a), ids(c)) {
		t.Errorf("another seed drew the same sample %v", ids(a))
	}
	dir, m := sample("0.10", "county-2022")
	if m.Population < 20 || m.Selected*10 < m.Population || m.Selected < m.Required {
		t.Errorf("sampled %d of %d (required %d)", m.Selected, m.Population, m.Required)
	}
	kinds := map[string]bool{}
	for _, p := range m.Records {
		for _, r := range p.Reasons {
			kinds[r] = true
		}
	}
	for _, k := range []string{county.ReasonConflict, county.ReasonFlagged, county.ReasonRefunded, county.ReasonRefund,
		county.ReasonOffline, county.ReasonLove} {
		if !kinds[k] {
			t.Errorf("no %s record in the sample (reasons %v)", k, slices.Sorted(maps.Keys(kinds)))
		}
	}
	// Every record of the must-include kinds is in it.
	var prog county.Report
	if err := json.Unmarshal([]byte(voucherd(t, 0, "report", "programme", "-from", d.day, "-until", d.day, "-server", d.srv.URL, "-format", "json")), &prog); err != nil {
		t.Fatal(err)
	}
	in := map[string]bool{}
	for _, id := range ids(m) {
		in[id] = true
	}
	for _, r := range append(append(prog.Conflicts, prog.Flagged...), prog.RuleBreaks...) {
		if !in[r.ID] {
			t.Errorf("%s (%s) is not in the sample", r.ID, r.Standing)
		}
	}
	if out := voucherd(t, 0, "audit", "verify", dir); !strings.Contains(out, "ok: "+strconv.Itoa(m.Selected)) {
		t.Errorf("verify: %s", out)
	}
	// One digit changed in a sampled record's signed body.
	file := filepath.Join(dir, "records", m.Records[0].ID+".json")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(raw), `\"total_fen\":`)
	if i < 0 {
		t.Fatalf("no total in %s", raw)
	}
	j := i + len(`\"total_fen\":`)
	digit := raw[j]
	raw[j] = "1234567890"[strings.IndexByte("0123456789", digit)]
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out := voucherd(t, 1, "audit", "verify", dir)
	if !strings.Contains(out, "FAIL "+m.Records[0].ID) {
		t.Errorf("verify of an altered record: %s", out)
	}
	fmt.Fprint(io.Discard, out)
}

// TestCounty_BothStores: the programme report and the audit sample read
// the same from the embedded ledger and from PostgreSQL after migrate.
func TestCounty_BothStores(t *testing.T) {
	dbURL := pgtest.DB(t)
	d := playCountyDay(t, "")
	voucherd(t, 0, "merchant", "block", "-id", "M1", "-reason", "复核", "-who", "王审计", "-server", d.srv.URL)
	voucherd(t, 0, "merchant", "unblock", "-id", "M1", "-reason", "复核完毕", "-who", "王审计", "-server", d.srv.URL)
	d.srv.Close()
	d.close()
	keyFile := filepath.Join(t.TempDir(), "issuing.key")
	voucherd(t, 0, "migrate", "-data", d.dir, "-db", dbURL, "-key-file", keyFile)
	read := func(where ...string) county.Report {
		var rep county.Report
		args := append([]string{"report", "programme", "-from", d.day, "-until", d.day, "-format", "json"}, where...)
		if err := json.Unmarshal([]byte(voucherd(t, 0, args...)), &rep); err != nil {
			t.Fatal(err)
		}
		rep.Generated, rep.Issuance = "", nil // the clock; the issuing side runs embedded only
		return rep
	}
	bolt, pg := read("-data", d.dir), read("-db", dbURL, "-key-file", keyFile)
	if bolt.Total.Redemptions == 0 || len(bolt.Actions) != 2 {
		t.Fatalf("embedded: %+v, %d admin actions", bolt.Total, len(bolt.Actions))
	}
	a, _ := json.Marshal(bolt)
	b, _ := json.Marshal(pg)
	if string(a) != string(b) {
		t.Errorf("programme report differs:\nembedded:   %s\npostgresql: %s", a, b)
	}
	sample := func(where ...string) []byte {
		dir := t.TempDir()
		voucherd(t, 0, append([]string{"audit", "sample", "-from", d.day, "-until", d.day, "-rate", "0.5", "-seed", "s", "-out", dir}, where...)...)
		voucherd(t, 0, "audit", "verify", dir)
		m, err := os.ReadFile(filepath.Join(dir, "sample.json"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if a, b := sample("-data", d.dir), sample("-db", dbURL, "-key-file", keyFile); string(a) != string(b) {
		t.Errorf("audit sample differs:\nembedded:   %s\npostgresql: %s", a, b)
	}
}
