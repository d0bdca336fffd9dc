package terminal_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

var (
	prog    = terminal.Qinshui2022()
	r50     = terminal.Denomination{SpendFen: terminal.Yuan(50), OffFen: terminal.Yuan(10)}
	r200    = terminal.Denomination{SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40)}
	a600    = terminal.Denomination{SpendFen: terminal.Yuan(600), OffFen: terminal.Yuan(120)}
	a3000   = terminal.Denomination{SpendFen: terminal.Yuan(3000), OffFen: terminal.Yuan(300)}
	ten     = day.Add(10 * time.Hour)
	rounds1 = prog.IssueRounds()
)

func drop(c terminal.Category, d terminal.Denomination, count, claimed int, at time.Time) terminal.Drop {
	return terminal.Drop{Round: "1", Category: c, Denomination: d, Count: count, Claimed: claimed, At: at}
}

func TestProgramme_DecideClaim(t *testing.T) {
	drops := []terminal.Drop{
		drop(terminal.Retail, r50, 10, 0, ten),
		drop(terminal.Retail, r200, 1, 1, ten),
		drop(terminal.Appliance, a600, 5, 0, ten),
		drop(terminal.Appliance, a3000, 5, 0, ten),
		drop(terminal.Fuel, terminal.Denomination{SpendFen: terminal.Yuan(100), OffFen: terminal.Yuan(20)}, 5, 0, ten.Add(4*time.Hour)),
	}
	fuel100 := terminal.Denomination{SpendFen: terminal.Yuan(100), OffFen: terminal.Yuan(20)}
	h := func(c terminal.Category, d terminal.Denomination) terminal.Held {
		return terminal.Held{Category: c, Denomination: d}
	}
	tests := []struct {
		name string
		cat  terminal.Category
		den  terminal.Denomination
		held []terminal.Held
		now  time.Time
		want terminal.Code // "" = OK
		pick int
	}{
		{"OK", terminal.Retail, r50, nil, ten, "", 0},
		{"OKLastSecond", terminal.Retail, r50, nil, terminal.DayEnd(day).Add(-time.Second), "", 0},
		{"OKTwoOtherDenominations", terminal.Retail, r50, []terminal.Held{h(terminal.Retail, r200), h(terminal.Hospitality, r50)}, ten, "", 0},
		{"ErrUnknownDenomination", terminal.Retail, terminal.Denomination{SpendFen: terminal.Yuan(300), OffFen: terminal.Yuan(60)}, nil, ten, terminal.UnknownDenomination, -1},
		{"ErrUnknownNegative", terminal.Retail, terminal.Denomination{SpendFen: -5000, OffFen: -1000}, nil, ten, terminal.UnknownDenomination, -1},
		{"ErrLoveNotClaimable", terminal.Love, terminal.Denomination{ValueFen: terminal.Yuan(100)}, nil, ten, terminal.UnknownDenomination, -1},
		{"ErrUnknownCategory", terminal.Category(9), r50, nil, ten, terminal.UnknownDenomination, -1},
		{"ErrNotOpenBefore10", terminal.Retail, r50, nil, ten.Add(-time.Second), terminal.NotOpen, -1},
		{"ErrNotOpenAtMidnight", terminal.Retail, r50, nil, terminal.DayEnd(day), terminal.NotOpen, -1},
		{"ErrNotOpenOutsideRound", terminal.Retail, r50, nil, time.Date(2022, 10, 9, 12, 0, 0, 0, terminal.Zone), terminal.NotOpen, -1},
		{"ErrNotOpenLaterDrop", terminal.Fuel, fuel100, nil, ten.Add(time.Hour), terminal.NotOpen, -1},
		{"ErrNotOpenNoDrop", terminal.Hospitality, r50, nil, ten, terminal.NotOpen, -1},
		{"ErrClaimLimit", terminal.Retail, r50, []terminal.Held{h(terminal.Fuel, fuel100), h(terminal.Retail, r200), h(terminal.Hospitality, r50)}, ten, terminal.ClaimLimit, -1},
		{"ErrDenominationLimit", terminal.Retail, r50, []terminal.Held{h(terminal.Retail, r50)}, ten, terminal.DenominationLimit, -1},
		{"ErrApplianceOnePerHolder", terminal.Appliance, a3000, []terminal.Held{h(terminal.Appliance, a600)}, ten, terminal.DenominationLimit, -1},
		{"ErrSoldOut", terminal.Retail, r200, nil, ten, terminal.SoldOut, -1},
		{"LimitBeforeSoldOut", terminal.Retail, r200, []terminal.Held{h(terminal.Retail, r200)}, ten, terminal.DenominationLimit, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := prog.DecideClaim(rounds1, drops, tt.held, terminal.ClaimRequest{Category: tt.cat, Denomination: tt.den, Now: tt.now})
			if tt.want == "" {
				if err != nil || got != tt.pick {
					t.Fatalf("got %d, %v; want drop %d", got, err, tt.pick)
				}
				return
			}
			if err == nil || err.Code != tt.want || got != -1 {
				t.Fatalf("got %d, %v; want %s", got, err, tt.want)
			}
			if err.Message == "" || err.Message == string(tt.want) {
				t.Errorf("no consumer message for %s: %q", tt.want, err.Message)
			}
		})
	}
}

func TestProgramme_DecideClaim_EarliestDropFirst(t *testing.T) {
	drops := []terminal.Drop{
		drop(terminal.Retail, r50, 5, 0, ten.Add(4*time.Hour)),
		drop(terminal.Retail, r50, 5, 5, ten.Add(-2*time.Hour)),
		drop(terminal.Retail, r50, 5, 0, ten),
	}
	got, err := prog.DecideClaim(rounds1, drops, nil, terminal.ClaimRequest{Category: terminal.Retail, Denomination: r50, Now: ten.Add(5 * time.Hour)})
	if err != nil || got != 2 {
		t.Fatalf("got %d, %v; want the 10:00 drop (2): the 08:00 one is sold out", got, err)
	}
}

// TestProgramme_DecideClaim_Stampede plays random claims by many holders
// against a few drops and checks that no drop gives more than its count,
// no holder more than 3 or two of a denomination, and the pool adds up.
func TestProgramme_DecideClaim_Stampede(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	drops := []terminal.Drop{
		drop(terminal.Retail, r50, 40, 0, ten),
		drop(terminal.Retail, r200, 25, 0, ten),
		drop(terminal.Appliance, a600, 10, 0, ten),
		drop(terminal.Appliance, a3000, 10, 0, ten),
	}
	for i := range drops {
		drops[i].ID = uint64(i + 1)
	}
	held := map[int][]terminal.Held{}
	var claims []terminal.Claimed
	dens := []terminal.Held{{Category: terminal.Retail, Denomination: r50}, {Category: terminal.Retail, Denomination: r200},
		{Category: terminal.Appliance, Denomination: a600}, {Category: terminal.Appliance, Denomination: a3000}}
	codes := map[terminal.Code]int{}
	for range 2000 {
		who, what := rng.IntN(60), dens[rng.IntN(len(dens))]
		now := ten.Add(time.Duration(rng.IntN(3600)) * time.Second)
		i, err := prog.DecideClaim(rounds1, drops, held[who], terminal.ClaimRequest{Category: what.Category, Denomination: what.Denomination, Now: now})
		if err != nil {
			codes[err.Code]++
			continue
		}
		drops[i].Claimed++
		held[who] = append(held[who], what)
		claims = append(claims, terminal.Claimed{Round: "1", Category: what.Category, OffFen: what.Denomination.OffFen, Status: terminal.StatusClaimed})
	}
	for _, d := range drops {
		if d.Claimed != d.Count {
			t.Errorf("drop %d: %d of %d claimed (2000 tries should empty it)", d.ID, d.Claimed, d.Count)
		}
	}
	for who, hs := range held {
		seen, apps := map[terminal.Held]bool{}, 0
		for _, h := range hs {
			if seen[h] {
				t.Errorf("holder %d has %v twice", who, h)
			}
			seen[h] = true
			if h.Category == terminal.Appliance {
				apps++
			}
		}
		if len(hs) > 3 || apps > 1 {
			t.Errorf("holder %d holds %d vouchers, %d appliance", who, len(hs), apps)
		}
	}
	if codes[terminal.SoldOut] == 0 || codes[terminal.ClaimLimit] == 0 || codes[terminal.DenominationLimit] == 0 {
		t.Errorf("refusals %v: want every limit exercised", codes)
	}
	if err := terminal.CheckPool(terminal.BuildPool(rounds1, nil, drops, claims, ten.Add(2*time.Hour))); err != nil {
		t.Error(err)
	}
}

func TestProgramme_ClaimedVoucher(t *testing.T) {
	d := drop(terminal.Retail, r200, 1, 0, ten)
	at := ten.Add(3*time.Hour + 1500*time.Millisecond)
	v := prog.ClaimedVoucher(&rounds1[0], &d, 42, 7, at)
	if !v.ValidFrom.Equal(ten.Add(3*time.Hour+time.Second)) || !v.ValidUntil.Equal(terminal.DayEnd(day)) {
		t.Fatalf("valid %v..%v, want from the claim to midnight", v.ValidFrom, v.ValidUntil)
	}
	if v.Round != 1 || v.Region != 140521 || v.Campaign != 202202 || v.SpendFen != terminal.Yuan(200) || v.OffFen != terminal.Yuan(40) {
		t.Fatalf("voucher %+v", v)
	}
	code := mustEncode(t, v)
	if got, err := (&terminal.Keyring{}).Verify(code); err == nil {
		t.Fatalf("verified %v without the key", got)
	}
	if !terminal.IsExpired(v.ValidUntil, terminal.DayEnd(day)) || terminal.IsExpired(v.ValidUntil, terminal.DayEnd(day).Add(-time.Nanosecond)) {
		t.Error("expiry is not at midnight")
	}
}

func TestPseudonym(t *testing.T) {
	a := terminal.Pseudonym([]byte("secret-1"), "user-1")
	if a != terminal.Pseudonym([]byte("secret-1"), "user-1") {
		t.Fatal("not deterministic")
	}
	for _, other := range []terminal.HolderID{
		terminal.Pseudonym([]byte("secret-2"), "user-1"),
		terminal.Pseudonym([]byte("secret-1"), "user-2"),
		terminal.Pseudonym([]byte("secret-1"), "user-1 "),
	} {
		if other == a {
			t.Errorf("pseudonym %s collides", a)
		}
	}
	if a == 0 {
		t.Error("zero pseudonym")
	}
}

// TestPseudonyms: the pseudonyms made with the keyed hash set up once are
// the first 8 bytes of HMAC-SHA256(secret, "voucherpos holder v1\x00" ‖ id)
// (as stored codes carry them), from any number of goroutines at once.
func TestPseudonyms(t *testing.T) {
	secret := []byte("secret-1")
	p := terminal.NewPseudonyms(secret)
	want := func(id string) terminal.HolderID {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("voucherpos holder v1\x00" + id))
		return terminal.HolderID(binary.BigEndian.Uint64(m.Sum(nil)))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := fmt.Sprintf("user-%d-%d", g, i)
				if got := p.Of(id); got != want(id) || got != terminal.Pseudonym(secret, id) {
					t.Errorf("%s: pseudonym %d, want %d", id, got, want(id))
					return
				}
			}
		}()
	}
	wg.Wait()
	// Every length of id around the claim's limit, and keys shorter than,
	// as long as and longer than SHA-256's block (hashed first).
	for _, klen := range []int{0, 8, 32, 64, 65, 100} {
		secret := bytes.Repeat([]byte{0xA5}, klen)
		p := terminal.NewPseudonyms(secret)
		for n := 1; n <= terminal.PlatformIDMax+70; n++ {
			id := strings.Repeat("x", n-1) + "云"[:1]
			m := hmac.New(sha256.New, secret)
			m.Write([]byte("voucherpos holder v1\x00" + id))
			if got, want := p.Of(id), terminal.HolderID(binary.BigEndian.Uint64(m.Sum(nil))); got != want {
				t.Fatalf("key %d bytes, id %d bytes: pseudonym %d, want %d", klen, n, got, want)
			}
		}
	}
}

func TestCheckPlatformID(t *testing.T) {
	long := make([]byte, terminal.PlatformIDMax+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"6222021234567890", true}, {"云闪付用户42", true}, {string(long[:terminal.PlatformIDMax]), true},
		{"", false}, {string(long), false}, {"a b", false}, {"a\nb", false}, {"\xff\xfe", false}, {"a\x00", false},
	} {
		if err := terminal.CheckPlatformID(tt.id); (err == nil) != tt.ok {
			t.Errorf("CheckPlatformID(%q) = %v, want ok %v", tt.id, err, tt.ok)
		}
	}
}

func TestProgramme_LoveSplit(t *testing.T) {
	sum := func(fs []terminal.Fen) (s terminal.Fen) {
		for _, f := range fs {
			s += f
		}
		return s
	}
	got, err := prog.LoveSplit(0)
	if err != nil || len(got) != 10 || sum(got) != terminal.Yuan(1000) || got[0] != terminal.Yuan(100) {
		t.Fatalf("default split %v, %v: want 10 × ¥100", got, err)
	}
	got, err = prog.LoveSplit(terminal.Yuan(380))
	want := []terminal.Fen{terminal.Yuan(100), terminal.Yuan(100), terminal.Yuan(100), terminal.Yuan(50), terminal.Yuan(20), terminal.Yuan(10)}
	if err != nil || len(got) != len(want) {
		t.Fatalf("split of ¥380: %v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("split of ¥380: %v, want %v", got, want)
		}
	}
	for _, bad := range []terminal.Fen{terminal.Yuan(15), -100, terminal.Yuan(1010), 1} {
		if got, err := prog.LoveSplit(bad); !errors.Is(err, terminal.ErrIssuing) {
			t.Errorf("LoveSplit(%s) = %v, %v; want ErrIssuing", bad, got, err)
		}
	}
	from, end, err := prog.PeriodSpan()
	if err != nil || from.Format(time.DateOnly) != "2022-09-25" || !end.Equal(time.Date(2022, 10, 16, 0, 0, 0, 0, terminal.Zone)) {
		t.Fatalf("period %v..%v, %v", from, end, err)
	}
}
