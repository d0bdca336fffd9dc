package county_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/county"
	"github.com/voucherpos/voucherpos/terminal"
)

func load(t *testing.T, c *chain) *county.Period {
	t.Helper()
	p, err := county.Load(context.Background(), c, day, day)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSelect(t *testing.T) {
	c := newChain(t)
	busyDay(c)
	p := load(t, c)
	// At 50% the sample needs monetary-unit picks beyond the 21 records
	// every sample takes, so the seed matters.
	a, required := county.Select(p, 5000, "county-2022")
	b, _ := county.Select(p, 5000, "county-2022")
	other, _ := county.Select(p, 5000, "another seed")
	if !maps.EqualFunc(a, b, slices.Equal) {
		t.Errorf("same seed, different samples:\n%v\n%v", a, b)
	}
	if slices.Equal(slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(other))) {
		t.Errorf("another seed drew the same sample %v", slices.Sorted(maps.Keys(a)))
	}
	if n := len(p.Lines); required != (n+1)/2 || len(a) < required {
		t.Errorf("picked %d of %d records, required %d", len(a), n, required)
	}
	for _, l := range p.Lines {
		r := l.Record
		must := !r.Online || r.Kind == terminal.KindRefund || len(r.Flags) > 0 || r.Voucher.Category == terminal.Love ||
			l.Standing() != terminal.Counted || r.ID == "T3-0000000001"
		if must && a[r.ID] == nil {
			t.Errorf("%s (%s, online %v, flags %v, %s) is not in the sample", r.ID, r.Kind, r.Online, r.Flags, l.Standing())
		}
	}
	var mus int
	for _, why := range a {
		if slices.Contains(why, county.ReasonMonetaryUnit) {
			mus++
		}
	}
	if mus == 0 || len(a) != required {
		t.Errorf("%d monetary-unit picks in a sample of %d (required %d)", mus, len(a), required)
	}
	if small, req := county.Select(p, 1000, "county-2022"); req != (len(p.Lines)+9)/10 || len(small) < req {
		t.Errorf("rate 10%%: %d of %d, required %d", len(small), len(p.Lines), req)
	}
}

func TestSampleVerify(t *testing.T) {
	c := newChain(t)
	busyDay(c)
	dir := t.TempDir()
	b, err := county.Sample(context.Background(), c, terminal.Qinshui2022(), day, day, 1000, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	m := b.Manifest
	n, faults, err := county.Verify(dir)
	if err != nil || len(faults) > 0 || n != m.Selected {
		t.Fatalf("Verify of a fresh sample: %d records, %v, %v", n, faults, err)
	}
	// One digit changed anywhere in an evidence file is found.
	file := filepath.Join(dir, "records", "T2-0000000003.json")
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{`\"discount_fen\":4000`, `"discount_fen": 4000`, `"sales_fen": 20050`} {
		t.Run(target, func(t *testing.T) {
			i := bytes.Index(orig, []byte(target))
			if i < 0 {
				t.Fatalf("%s not in %s", target, orig)
			}
			j := i + len(target) - 1
			changed := slices.Clone(orig)
			changed[j] = '1'
			if err := os.WriteFile(file, changed, 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(file, orig, 0o644)
			_, faults, err := county.Verify(dir)
			if err != nil || len(faults) == 0 {
				t.Fatalf("Verify after changing %s: %v, %v", target, faults, err)
			}
			// Even with the manifest's digest fixed up, the record itself fails.
			fixManifest(t, dir, "T2-0000000003", changed)
			defer fixManifest(t, dir, "T2-0000000003", orig)
			if _, faults, _ := county.Verify(dir); len(faults) == 0 {
				t.Fatalf("Verify with the digest fixed up found nothing")
			}
		})
	}
}

func fixManifest(t *testing.T, dir, id string, file []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m county.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for i := range m.Records {
		if m.Records[i].ID == id {
			m.Records[i].SHA256 = sha(file)
		}
	}
	b, _ := json.MarshalIndent(&m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "sample.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBuild(t *testing.T) {
	c := newChain(t)
	busyDay(c)
	p := load(t, c)
	acts, _ := c.Actions(context.Background())
	rep := county.Build(p, terminal.Qinshui2022(), acts, nil, day.Add(20*time.Hour))
	lines := slices.Clone(p.Lines)
	if want := terminal.Sum(lines); rep.Total != want {
		t.Fatalf("total:\n got %+v\nwant %+v", rep.Total, want)
	}
	var sum terminal.Account
	for _, g := range rep.ByMerchant {
		sum.Merge(&g.Account)
	}
	if sum != rep.Total {
		t.Errorf("merchants sum to %+v, total %+v", sum, rep.Total)
	}
	if len(rep.Conflicts) != 1 || rep.Conflicts[0].ID != "T3-0000000004" {
		t.Errorf("conflicts %+v", rep.Conflicts)
	}
	kinds := map[string]bool{}
	for _, s := range rep.Signals {
		kinds[s.Kind+" "+strings.Fields(s.Subject)[0]] = true
		if len(s.Records) == 0 {
			t.Errorf("signal %+v without records", s)
		}
	}
	for _, want := range []string{"threshold M2", "offline_share M2", "quick_refund M3", "linked M3", "holder_at_place M1"} {
		if !kinds[want] {
			t.Errorf("no %s signal in %v", want, kinds)
		}
	}
	if kinds["threshold M1"] || kinds["offline_share M1"] {
		t.Errorf("signals raised on M1's ordinary trade: %v", kinds)
	}
	if rep.Coverage.Merchants != 3 || rep.Coverage.MerchantsEnrolled != 3 || rep.Coverage.Holders == 0 {
		t.Errorf("coverage %+v", rep.Coverage)
	}
	for _, f := range []string{"table", "csv", "json", "html"} {
		var b bytes.Buffer
		if err := rep.Write(&b, f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out := b.String()
		subsidy := rep.Total.SubsidyFen.Plain()
		if f == "json" {
			subsidy = `"subsidy_fen": ` + strconv.FormatInt(int64(rep.Total.SubsidyFen), 10)
		}
		if !strings.Contains(out, subsidy) || !strings.Contains(out, rep.Total.Leverage.String()) {
			t.Errorf("%s lacks the subsidy %s or leverage %s", f, rep.Total.SubsidyFen.Plain(), rep.Total.Leverage)
		}
		switch f {
		case "csv":
			if _, err := csv.NewReader(&b).ReadAll(); err != nil {
				t.Errorf("csv: %v", err)
			}
		case "html":
			if n := strings.Count(out, "<svg"); n != 4 {
				t.Errorf("html has %d charts, want 4", n)
			}
			if ext := regexp.MustCompile(`(src|href)=|url\(|@import|<script`).FindString(out); ext != "" {
				t.Errorf("html loads something (%s): it must be self-contained", ext)
			}
		}
	}
	if err := rep.Write(&bytes.Buffer{}, "pdf"); err == nil {
		t.Error("format pdf: no error")
	}
}

func TestIssuanceOf(t *testing.T) {
	lines := []terminal.PoolLine{
		{Round: "1", Category: terminal.Retail, BudgetFen: 1000_00, ReleasedFen: 400_00, ClaimedFen: 300_00, RedeemedFen: 200_00, ExpiredFen: 80_00, ReturnedFen: 20_00},
		{Category: terminal.Love, BudgetFen: 500_00, ReleasedFen: 100_00, ClaimedFen: 100_00, RedeemedFen: 25_00},
	}
	iss := county.IssuanceOf("1", lines)
	if iss.Total.ClaimedFen != 400_00 || iss.Total.RedeemedFen != 225_00 || iss.RedemptionRate != 5625 {
		t.Fatalf("issuance %+v, want claimed ¥400.00, redeemed ¥225.00, rate 56.25%%", iss)
	}
	c := newChain(t)
	busyDay(c)
	rep := county.Build(load(t, c), terminal.Qinshui2022(), nil, iss, day)
	var b bytes.Buffer
	if err := rep.Write(&b, "html"); err != nil || !strings.Contains(b.String(), "56.25%") {
		t.Errorf("html lacks the redemption rate: %v", err)
	}
}
