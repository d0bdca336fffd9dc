package issuing_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/terminal"
)

var ten = day.Add(10 * time.Hour)

// TestClaims_Stampede: 1,000 concurrent claimers on a drop of 100.
func TestClaims_Stampede(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		k := newKit(t, engine, ten)
		k.drop(terminal.Retail, r200, 100)
		issuing.WaitNonces(k.svc, 100) // made before the drop: every code below is signed with one
		answers := make([]answer, 1000)
		var wg gosync.WaitGroup
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = k.post(fmt.Sprintf("k-%d", i), claimBody(fmt.Sprintf("user-%d", i), terminal.Retail, r200))
			}()
		}
		wg.Wait()
		keys := &terminal.Keyring{}
		if err := keys.Add(issuerKey.Public().(ed25519PublicKey)); err != nil {
			t.Fatal(err)
		}
		ids := map[terminal.VoucherID]bool{}
		codes := map[string]int{}
		for i, a := range answers {
			switch a.status {
			case http.StatusCreated:
				v, err := keys.Verify(a.issued.Code)
				if err != nil || v.ID != a.issued.VoucherID || ids[v.ID] {
					t.Fatalf("claim %d: voucher %s code %v (seen %v)", i, a.issued.VoucherID, err, ids[v.ID])
				}
				ids[v.ID] = true
				if !v.ValidFrom.Equal(ten) || !v.ValidUntil.Equal(day.AddDate(0, 0, 1)) || v.OffFen != r200.OffFen {
					t.Errorf("voucher %+v", v)
				}
			case http.StatusConflict:
				codes[a.code]++
			default:
				t.Fatalf("claim %d: %d %s", i, a.status, a.raw)
			}
		}
		if len(ids) != 100 || codes[string(terminal.SoldOut)] != 900 {
			t.Fatalf("issued %d, refusals %v; want 100 and 900 sold_out", len(ids), codes)
		}
		l := line(k.pool(), terminal.Retail)
		if l.ReleasedFen != terminal.Yuan(4000) || l.ClaimedFen != terminal.Yuan(4000) {
			t.Fatalf("pool %+v", l)
		}
	})
}

// TestClaims_LimitsExact: 100 holders each send 5 claims at once (four
// denominations, one of them twice) to drops that cannot sell out: each
// ends with exactly 3 vouchers, all of different denominations, and
// exactly 2 refusals for a limit.
func TestClaims_LimitsExact(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		k := newKit(t, engine, ten)
		dens := []struct {
			c terminal.Category
			d terminal.Denomination
		}{{terminal.Retail, r50}, {terminal.Retail, r200}, {terminal.Hospitality, r50}, {terminal.Hospitality, h500}, {terminal.Retail, r50}}
		for _, d := range dens[:4] {
			k.drop(d.c, d.d, 1000)
		}
		const holders = 100
		got := make([][]answer, holders)
		var wg gosync.WaitGroup
		for h := range holders {
			got[h] = make([]answer, len(dens))
			for i, d := range dens {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[h][i] = k.post("", claimBody(fmt.Sprintf("u%d", h), d.c, d.d))
				}()
			}
		}
		wg.Wait()
		for h, as := range got {
			issued, limits := map[terminal.Denomination]map[terminal.Category]bool{}, 0
			n := 0
			for _, a := range as {
				switch {
				case a.status == http.StatusCreated:
					d := terminal.Denomination{SpendFen: a.issued.SpendFen, OffFen: a.issued.OffFen}
					if issued[d] == nil {
						issued[d] = map[terminal.Category]bool{}
					}
					if issued[d][a.issued.Category] {
						t.Fatalf("holder %d got %s %s twice", h, a.issued.Category, d)
					}
					issued[d][a.issued.Category] = true
					n++
				case a.code == string(terminal.ClaimLimit) || a.code == string(terminal.DenominationLimit):
					limits++
				default:
					t.Fatalf("holder %d: %d %s", h, a.status, a.raw)
				}
			}
			if n != 3 || limits != 2 {
				t.Fatalf("holder %d: %d issued, %d limit refusals; want 3 and 2", h, n, limits)
			}
		}
		p := k.pool()
		if l := line(p, terminal.Retail); l.ClaimedFen+line(p, terminal.Hospitality).ClaimedFen == 0 {
			t.Fatal("nothing claimed")
		}
		// The limits hold across a restart: the counts are in the ledger.
		k.restart()
		if a := k.post("", claimBody("u0", terminal.Hospitality, h500)); a.code != string(terminal.ClaimLimit) && a.code != string(terminal.DenominationLimit) {
			t.Fatalf("after restart: %d %s", a.status, a.raw)
		}
	})
}

func TestClaims_Idempotent(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		k := newKit(t, engine, ten)
		k.drop(terminal.Retail, r50, 2)
		// With a nonce made ahead the signature is random: the replays
		// below get the same code only because the claim stored it.
		issuing.WaitNonces(k.svc, 2)
		first := k.post("key-1", claimBody("alice", terminal.Retail, r50))
		if first.status != http.StatusCreated {
			t.Fatalf("first: %d %s", first.status, first.raw)
		}
		again := k.post("key-1", " "+claimBody("alice", terminal.Retail, r50))
		if again.status != http.StatusCreated || again.issued != first.issued {
			t.Fatalf("replay: %d %+v, want %+v", again.status, again.issued, first.issued)
		}
		k.restart()
		if a := k.post("key-1", claimBody("alice", terminal.Retail, r50)); a.issued != first.issued {
			t.Fatalf("replay after restart: %d %s", a.status, a.raw)
		}
		if a := k.post("key-1", claimBody("bob", terminal.Retail, r50)); a.status != http.StatusUnprocessableEntity || a.code != "idempotency_key_reused" {
			t.Fatalf("same key, other body: %d %s", a.status, a.raw)
		}
		if l := line(k.pool(), terminal.Retail); l.ClaimedFen != r50.OffFen {
			t.Fatalf("claimed %s after replays, want one voucher", l.ClaimedFen)
		}
	})
}

// TestClaims_SameKeyAtOnce: 50 copies of one claim with one
// Idempotency-Key sent at once, behind 100 other holders' claims (so that
// the copies queue while a group commits and are decided in a group
// together, the first of them new), all get the same voucher, and one
// voucher is claimed for it.
func TestClaims_SameKeyAtOnce(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		k := newKit(t, engine, ten)
		k.drop(terminal.Retail, r50, 1000)
		claim := func(holder, key string) (issuing.Issued, error) {
			return k.svc.Claim(context.Background(), issuing.ClaimRequest{Holder: holder, Category: terminal.Retail,
				SpendFen: r50.SpendFen, OffFen: r50.OffFen, Key: key})
		}
		var wg gosync.WaitGroup
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := claim(fmt.Sprintf("other-%d", i), ""); err != nil {
					t.Error(err)
				}
			}()
		}
		got := make([]issuing.Issued, 50)
		errs := make([]error, len(got))
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = claim("alice", "key-1")
			}()
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil || got[i].VoucherID != got[0].VoucherID {
				t.Fatalf("copy %d: %+v %v, first %+v %v", i, got[i], errs[i], got[0], errs[0])
			}
		}
		if l := line(k.pool(), terminal.Retail); l.ClaimedFen != 101*r50.OffFen {
			t.Fatalf("claimed %s, want 101 vouchers", l.ClaimedFen)
		}
	})
}

// TestClaims_OneGroup: claims decided in one group commit see the claims
// before them in the group: a key used again is the same voucher (or
// ErrKeyReused with another body), and a holder's second claim of a
// denomination is refused.
func TestClaims_OneGroup(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		k := newKit(t, engine, ten)
		k.drop(terminal.Retail, r50, 100)
		k.drop(terminal.Retail, r200, 100)
		req := func(holder, key string, d terminal.Denomination) issuing.ClaimRequest {
			return issuing.ClaimRequest{Holder: holder, Category: terminal.Retail, SpendFen: d.SpendFen, OffFen: d.OffFen, Key: key}
		}
		ids, errs := issuing.DecideGroup(k.svc, []issuing.ClaimRequest{
			req("alice", "k-1", r50), req("bob", "", r50), req("alice", "k-1", r50), req("alice", "k-1", r200),
			req("carol", "", r50), req("carol", "", r50), req("carol", "", r200)})
		for i, want := range []string{"", "", "", "key", "", "limit", ""} {
			var refusal *terminal.Error
			switch got := errs[i]; {
			case want == "" && (got != nil || ids[i] == 0):
				t.Errorf("claim %d: %v", i, got)
			case want == "key" && !errors.Is(got, issuing.ErrKeyReused):
				t.Errorf("claim %d: %v, want the key reused", i, got)
			case want == "limit" && !(errors.As(got, &refusal) && refusal.Code == terminal.DenominationLimit):
				t.Errorf("claim %d: %v, want %s", i, got, terminal.DenominationLimit)
			}
		}
		if ids[2] != ids[0] {
			t.Errorf("the key k-1 again: voucher %d, first %d", ids[2], ids[0])
		}
		if l := line(k.pool(), terminal.Retail); l.ClaimedFen != 3*r50.OffFen+r200.OffFen {
			t.Errorf("claimed %s, want alice's, bob's and carol's two", l.ClaimedFen)
		}
	})
}

// TestClaims_BadInput: bad requests get a 4xx with error.code, never a
// 5xx, and change nothing.
func TestClaims_BadInput(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		k := newKit(t, engine, ten)
		k.drop(terminal.Retail, r50, 5)
		if a := k.post("used", claimBody("carol", terminal.Retail, r50)); a.status != http.StatusCreated {
			t.Fatal(a.raw)
		}
		before := k.pool()
		huge := `{"holder":"` + strings.Repeat("x", 1<<20) + `","category":"retail","spend_fen":5000,"off_fen":1000}`
		tests := []struct {
			name, key, body string
			status          int
			code            string
		}{
			{"Malformed", "", `{"holder":`, 400, "bad_request"},
			{"NotJSON", "", `holder=dave`, 400, "bad_request"},
			{"Array", "", `[1,2]`, 400, "bad_request"},
			{"Empty", "", ``, 400, "bad_request"},
			{"TwoValues", "", claimBody("dave", terminal.Retail, r50) + `{}`, 400, "bad_request"},
			{"UnknownField", "", `{"holder":"dave","category":"retail","spend_fen":5000,"off_fen":1000,"admin":true}`, 400, "bad_request"},
			{"NegativeDenomination", "", `{"holder":"dave","category":"retail","spend_fen":-5000,"off_fen":-1000}`, 400, "unknown_denomination"},
			{"UnknownDenomination", "", `{"holder":"dave","category":"retail","spend_fen":5000,"off_fen":2000}`, 400, "unknown_denomination"},
			{"UnknownCategory", "", `{"holder":"dave","category":"gold","spend_fen":5000,"off_fen":1000}`, 400, "bad_request"},
			{"NoCategory", "", `{"holder":"dave","spend_fen":5000,"off_fen":1000}`, 400, "unknown_denomination"},
			{"LoveClaimed", "", `{"holder":"dave","category":"love","face_fen":10000}`, 400, "unknown_denomination"},
			{"HugeAmount", "", `{"holder":"dave","category":"retail","spend_fen":99999999999999999,"off_fen":1000}`, 400, "unknown_denomination"},
			{"Overflow", "", `{"holder":"dave","category":"retail","spend_fen":1e40,"off_fen":1000}`, 400, "bad_request"},
			{"MissingHolder", "", `{"category":"retail","spend_fen":5000,"off_fen":1000}`, 400, "bad_request"},
			{"HolderWithSpace", "", claimBody("da ve", terminal.Retail, r50), 400, "bad_request"},
			{"HugeBody", "", huge, 413, "too_large"},
			{"ReplayedKeyOtherBody", "used", claimBody("carol", terminal.Retail, r200), 422, "idempotency_key_reused"},
			{"BadKey", "a key with spaces", claimBody("dave", terminal.Retail, r50), 400, "bad_request"},
			{"FormBody", "form", "holder=dave&category=retail", 415, "not_json"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := k.post(tt.key, tt.body)
				if tt.key == "form" {
					a = k.postAs("application/x-www-form-urlencoded", tt.body)
				}
				if a.status != tt.status || a.code != tt.code {
					t.Fatalf("got %d %s, want %d %s", a.status, a.raw, tt.status, tt.code)
				}
			})
		}
		if after := k.pool(); fmt.Sprint(after.Lines) != fmt.Sprint(before.Lines) {
			t.Fatalf("pool changed by bad input:\n%v\n%v", before.Lines, after.Lines)
		}
		// The next good claim still works.
		if a := k.post("", claimBody("dave", terminal.Retail, r50)); a.status != http.StatusCreated {
			t.Fatalf("good claim after bad input: %d %s", a.status, a.raw)
		}
	})
}

func TestClaims_NotOpen(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		k := newKit(t, engine, ten.Add(-time.Hour))
		k.drop(terminal.Retail, r50, 5)
		if a := k.post("", claimBody("erin", terminal.Retail, r50)); a.status != http.StatusConflict || a.code != string(terminal.NotOpen) {
			t.Fatalf("09:00: %d %s", a.status, a.raw)
		}
		k.clock.Set(ten)
		if a := k.post("", claimBody("erin", terminal.Retail, r50)); a.status != http.StatusCreated {
			t.Fatalf("10:00: %d %s", a.status, a.raw)
		}
	})
}

// TestClaims_Expiry: at midnight unredeemed vouchers expire and their value,
// with the drop's unclaimed vouchers, is back in the pool; a sweep missed
// while the server was down runs at the next start.
func TestClaims_Expiry(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		k := newKit(t, engine, ten.Add(time.Hour))
		k.drop(terminal.Retail, r200, 10)
		for i := range 4 {
			if a := k.post("", claimBody(fmt.Sprintf("f%d", i), terminal.Retail, r200)); a.status != http.StatusCreated {
				t.Fatal(a.raw)
			}
		}
		before := line(k.pool(), terminal.Retail)
		k.clock.Set(day.AddDate(0, 0, 1).Add(-time.Second))
		if n, err := k.svc.Sweep(context.Background()); err != nil || n != 0 {
			t.Fatalf("sweep at 23:59:59: %d, %v", n, err)
		}
		k.close()
		k.clock.Set(day.AddDate(0, 0, 1).Add(3 * time.Hour)) // the server was down at midnight
		k.open()
		vs, err := k.svc.Holdings(context.Background(), "f0")
		if err != nil || len(vs) != 1 || vs[0].Status != terminal.StatusExpired {
			t.Fatalf("holdings after midnight: %+v, %v", vs, err)
		}
		after := line(k.pool(), terminal.Retail)
		if after.ExpiredFen != terminal.Yuan(160) || after.UnclaimedFen != terminal.Yuan(240) ||
			after.AvailableFen != before.AvailableFen+terminal.Yuan(400) {
			t.Fatalf("pool after expiry %+v (before %+v)", after, before)
		}
		if n, err := k.svc.Sweep(context.Background()); err != nil || n != 0 {
			t.Fatalf("second sweep: %d, %v; want nothing left", n, err)
		}
	})
}

func TestLove(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		k := newKit(t, engine, ten)
		vs, err := k.svc.AddLove(context.Background(), "grace", 0)
		if err != nil || len(vs) != 10 {
			t.Fatalf("love add: %d vouchers, %v", len(vs), err)
		}
		if vs[0].FaceFen != terminal.Yuan(100) || vs[0].ValidUntil.Format(time.DateOnly) != "2022-10-16" {
			t.Fatalf("love voucher %+v", vs[0])
		}
		if _, err := k.svc.AddLove(context.Background(), "grace", 0); err == nil {
			t.Fatal("registered twice")
		}
		got, err := k.svc.Holdings(context.Background(), "grace")
		if err != nil || len(got) != 10 || got[3].Code != vs[3].Code || got[3].Status != terminal.StatusClaimed {
			t.Fatalf("holdings %v, %v", len(got), err)
		}
		l := line(k.pool(), terminal.Love)
		if l.ReleasedFen != terminal.Yuan(1000) || l.AvailableFen != terminal.Yuan(990_000) {
			t.Fatalf("love line %+v", l)
		}
	})
}

func TestAdmin_Remote(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		k := newKit(t, engine, ten)
		r := &issuingRemote{URL: k.srv.URL}
		ctx := context.Background()
		if _, err := r.AddDrop(ctx, dropReq(terminal.Retail, r200, 50_001, "2022-10-01")); err == nil {
			t.Fatal("drop over the retail budget accepted")
		}
		if _, err := r.AddDrop(ctx, dropReq(terminal.Retail, r200, 1, "2022-10-10")); err == nil {
			t.Fatal("drop outside every round accepted")
		}
		rd, err := r.AddRound(ctx, terminal.IssueRound{ID: "2", From: "2022-10-09", Until: "2022-10-15",
			BudgetFen: map[terminal.Category]terminal.Fen{terminal.Retail: terminal.Yuan(1_000_000)}})
		if err != nil || rd.Number != 2 {
			t.Fatalf("round add: %+v, %v", rd, err)
		}
		if _, err := r.AddRound(ctx, terminal.IssueRound{ID: "3", From: "2022-10-15", Until: "2022-10-20"}); err == nil {
			t.Fatal("overlapping round accepted")
		}
		if d, err := r.AddDrop(ctx, dropReq(terminal.Retail, r200, 10, "2022-10-10")); err != nil || d.Round != "2" {
			t.Fatalf("drop in round 2: %+v, %v", d, err)
		}
		if err := r.MoveBudget(ctx, terminal.BudgetMove{Round: "1", From: terminal.Fuel, To: terminal.Retail, AmountFen: terminal.Yuan(100), Reason: "fuel under-used"}); err != nil {
			t.Fatal(err)
		}
		p, err := r.Pool(ctx, day)
		if err != nil || len(p.Moves) != 1 || line(p, terminal.Retail).BudgetFen != terminal.Yuan(2_000_100) {
			t.Fatalf("pool %+v, %v", p, err)
		}
		rs, err := r.Rounds(ctx)
		if err != nil || len(rs) != 2 {
			t.Fatalf("rounds %v, %v", rs, err)
		}
	})
}

// TestClaims_WithHub: the issuing side on the hub's own ledger reads the
// hub's facts: a voucher the county revokes unredeemed is returned (its
// value back in the pool).
func TestClaims_WithHub(t *testing.T) {
	clk := &clock{t: ten}
	h, svc, err := boltstore.OpenServer(t.TempDir(), hub.Options{Create: true, Now: clk.Now, Logf: func(string, ...any) {}},
		issuing.Options{Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	defer svc.Close()
	ctx := context.Background()
	if _, err := svc.AddDrop(ctx, dropReq(terminal.Retail, r200, 3, "2022-10-01")); err != nil {
		t.Fatal(err)
	}
	iss, err := svc.Claim(ctx, issuing.ClaimRequest{Holder: "henry", Category: terminal.Retail, SpendFen: r200.SpendFen, OffFen: r200.OffFen})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Revoke(ctx, iss.VoucherID); err != nil {
		t.Fatal(err)
	}
	vs, err := svc.Holdings(ctx, "henry")
	if err != nil || len(vs) != 1 || vs[0].Status != terminal.StatusReturned {
		t.Fatalf("holdings after revoke: %+v, %v", vs, err)
	}
	p, err := svc.Pool(ctx, day)
	if err != nil || terminal.CheckPool(p.Lines) != nil || line(p, terminal.Retail).ReturnedFen != r200.OffFen {
		t.Fatalf("pool %+v, %v", p, err)
	}
}

// TestClaims_TwoInstances: on PostgreSQL two voucherd instances serve one
// database; 400 claimers split between them on a drop of 100 get exactly
// 100 vouchers, none twice.
func TestClaims_TwoInstances(t *testing.T) {
	a := newKit(t, enginePG, ten)
	b := &kit{t: t, engine: enginePG, path: a.path, keys: a.keys, clock: a.clock}
	b.open()
	t.Cleanup(b.close)
	a.drop(terminal.Retail, r200, 100)
	answers := make([]answer, 400)
	var wg gosync.WaitGroup
	for i := range answers {
		k := a
		if i%2 == 1 {
			k = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = k.post(fmt.Sprintf("k-%d", i), claimBody(fmt.Sprintf("user-%d", i), terminal.Retail, r200))
		}()
	}
	wg.Wait()
	ids := map[terminal.VoucherID]bool{}
	for i, a := range answers {
		switch {
		case a.status == http.StatusCreated && !ids[a.issued.VoucherID]:
			ids[a.issued.VoucherID] = true
		case a.status == http.StatusConflict && a.code == string(terminal.SoldOut):
		default:
			t.Fatalf("claim %d: %d %s", i, a.status, a.raw)
		}
	}
	if len(ids) != 100 {
		t.Fatalf("%d vouchers issued by two instances from a drop of 100", len(ids))
	}
	if l := line(b.pool(), terminal.Retail); l.ClaimedFen != terminal.Yuan(4000) {
		t.Fatalf("pool %+v", l)
	}
}

// TestClaims_CloseAnswersQueued: a service closing in the middle of a
// stampede decides and answers every claim it had queued; the others are
// told it closed (ErrClosed), and after a restart exactly the claims that
// were answered exist.
func TestClaims_CloseAnswersQueued(t *testing.T) {
	k := newKit(t, engineBolt, ten)
	k.drop(terminal.Retail, r50, 1000)
	errs := make([]error, 300)
	var wg gosync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = k.svc.Claim(context.Background(), issuing.ClaimRequest{Holder: fmt.Sprintf("c%d", i),
				Category: terminal.Retail, SpendFen: r50.SpendFen, OffFen: r50.OffFen})
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := k.svc.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	issued := 0
	for i, err := range errs {
		switch {
		case err == nil:
			issued++
		case !errors.Is(err, issuing.ErrClosed):
			t.Fatalf("claim %d: %v; want a voucher or ErrClosed", i, err)
		}
	}
	k.restart()
	if l := line(k.pool(), terminal.Retail); l.ClaimedFen != r50.OffFen*terminal.Fen(issued) {
		t.Fatalf("%d answered with a voucher, pool has %s claimed", issued, l.ClaimedFen)
	}
	t.Logf("%d of %d claims issued before the close", issued, len(errs))
}

// TestClaims_KeyRotation: a voucher claimed before `voucherd key rotate`
// keeps its code, signed with the old key, which verifies at a till with
// the hub's keyring after the rotation (docs/voucher-code.md "Key
// rotation"), in a replay and in the holder's list alike; a claim after it
// is signed with the new key. With nonces made ahead (the signature stored
// at the claim) and without (the old key signs again).
func TestClaims_KeyRotation(t *testing.T) {
	for _, nonces := range []int{0, -1} {
		t.Run(fmt.Sprintf("nonces=%d", nonces), func(t *testing.T) {
			clk := &clock{t: ten}
			nop := func(string, ...any) {}
			h, svc, err := boltstore.OpenServer(t.TempDir(), hub.Options{Create: true, Now: clk.Now, Logf: nop},
				issuing.Options{Logf: nop, Nonces: nonces})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			defer svc.Close()
			ctx := context.Background()
			if _, err := svc.AddDrop(ctx, dropReq(terminal.Retail, r200, 3, "2022-10-01")); err != nil {
				t.Fatal(err)
			}
			issuing.WaitNonces(svc, 3)
			req := func(holder string) issuing.ClaimRequest {
				return issuing.ClaimRequest{Holder: holder, Category: terminal.Retail, SpendFen: r200.SpendFen, OffFen: r200.OffFen, Key: "key-" + holder}
			}
			oldID := h.KeyID()
			before, err := svc.Claim(ctx, req("ann"))
			if err != nil {
				t.Fatal(err)
			}
			newID, err := h.RotateKey(ctx)
			if err != nil || newID == oldID {
				t.Fatalf("rotate: %s %v", newID, err)
			}
			after, err := svc.Claim(ctx, req("bob"))
			if err != nil {
				t.Fatal(err)
			}
			trusted, err := h.IssuerKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			till := &terminal.Keyring{}
			for _, k := range trusted {
				if err := till.Add(k.Public); err != nil {
					t.Fatal(err)
				}
			}
			if v, err := till.Verify(before.Code); err != nil || v.KeyID != oldID || v.ID != before.VoucherID {
				t.Fatalf("voucher claimed before the rotation: %+v %v", v, err)
			}
			if v, err := till.Verify(after.Code); err != nil || v.KeyID != newID {
				t.Fatalf("voucher claimed after the rotation: %+v %v", v, err)
			}
			replay, err := svc.Claim(ctx, req("ann"))
			if err != nil || replay.Code != before.Code {
				t.Fatalf("replay after the rotation: %v, code %q want %q", err, replay.Code, before.Code)
			}
			held, err := svc.Holdings(ctx, "ann")
			if err != nil || len(held) != 1 || held[0].Code != before.Code {
				t.Fatalf("holdings after the rotation: %+v %v", held, err)
			}
		})
	}
}
