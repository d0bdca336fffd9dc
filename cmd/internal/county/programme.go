package county

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Report is the county's programme report over a period: the money by
// category, round, denomination, day and merchant (each summed by
// terminal.Account), coverage, budget burn, the records kept apart, the
// fraud signals and the admin log.
type Report struct {
	Programme string `json:"programme"`
	From      string `json:"from"`
	Until     string `json:"until"`
	Generated string `json:"generated"`
	// Total is the period's account; its Leverage is net sales ÷ subsidy.
	Total          terminal.Account `json:"total"`
	Issuance       *Issuance        `json:"issuance,omitempty"`
	Budget         []Burn           `json:"budget"`
	ByCategory     []Group          `json:"by_category"`
	ByRound        []Group          `json:"by_round"`
	ByDenomination []Group          `json:"by_denomination"`
	ByDay          []Group          `json:"by_day"`
	ByMerchant     []MerchantGroup  `json:"by_merchant"`
	// ByHour counts counted redemptions by hour of day, UTC+8.
	ByHour   [24]int  `json:"by_hour"`
	Coverage Coverage `json:"coverage"`
	// Conflicts, RuleBreaks and Flagged list the records behind those figures.
	Conflicts  []Row    `json:"conflicts"`
	RuleBreaks []Row    `json:"rule_breaks"`
	Flagged    []Row    `json:"flagged"`
	Signals    []Signal `json:"signals"`
	Actions    []Action `json:"admin_actions"`
}

// Group is the account of one category, round, denomination or day.
type Group struct {
	Key  string `json:"key"`
	Name string `json:"name"`
	terminal.Account
}

// MerchantGroup is one merchant's account and offline share.
type MerchantGroup struct {
	Group
	Category     string         `json:"category"`
	Region       uint32         `json:"region"`
	Blocked      bool           `json:"blocked"`
	OfflineShare terminal.Ratio `json:"offline_share_pct"`
}

// Burn is a category's budget and the subsidy paid from it.
type Burn struct {
	Category   string         `json:"category"`
	Name       string         `json:"name"`
	BudgetFen  terminal.Fen   `json:"budget_fen"`
	SubsidyFen terminal.Fen   `json:"subsidy_fen"`
	Share      terminal.Ratio `json:"burn_pct"`
}

// Issuance is the issuing side's pool (sync/issuing) for the round holding
// the report's last day, and the love vouchers: per category the value
// released, claimed, redeemed, expired and returned; RedemptionRate (核销率)
// is redeemed ÷ claimed, by value, in hundredths of a percent.
type Issuance struct {
	Round          string              `json:"round,omitempty"`
	Lines          []terminal.PoolLine `json:"lines"`
	Total          terminal.PoolLine   `json:"total"`
	RedemptionRate terminal.Ratio      `json:"redemption_rate_pct"`
}

// IssuanceOf sums a pool's lines.
func IssuanceOf(round string, lines []terminal.PoolLine) *Issuance {
	iss := &Issuance{Round: round, Lines: lines}
	t := &iss.Total
	for _, l := range lines {
		t.BudgetFen += l.BudgetFen
		t.ReleasedFen += l.ReleasedFen
		t.ClaimedFen += l.ClaimedFen
		t.RedeemedFen += l.RedeemedFen
		t.ExpiredFen += l.ExpiredFen
		t.ReturnedFen += l.ReturnedFen
		t.UnclaimedFen += l.UnclaimedFen
		t.AvailableFen += l.AvailableFen
	}
	iss.RedemptionRate = fenShare(t.RedeemedFen, t.ClaimedFen)
	return iss
}

// Coverage is who the programme reached: holders and merchants with at
// least one counted redemption, overall and by category and region.
type Coverage struct {
	Holders           int             `json:"holders"`
	Merchants         int             `json:"merchants"`
	MerchantsEnrolled int             `json:"merchants_enrolled"`
	MerchantShare     terminal.Ratio  `json:"merchant_share_pct"`
	ByCategory        []CoverageGroup `json:"by_category"`
	ByRegion          []CoverageGroup `json:"by_region"`
}

// CoverageGroup is the coverage of one category or region.
type CoverageGroup struct {
	Key               string `json:"key"`
	Name              string `json:"name"`
	Holders           int    `json:"holders"`
	Merchants         int    `json:"merchants"`
	MerchantsEnrolled int    `json:"merchants_enrolled"`
}

// Row is one record in a list of the report or of a signal.
type Row struct {
	ID          string            `json:"id"`
	Kind        terminal.Kind     `json:"kind"`
	At          string            `json:"at"`
	MerchantID  string            `json:"merchant_id"`
	Category    terminal.Category `json:"category"`
	Voucher     string            `json:"voucher"`
	Holder      string            `json:"holder"`
	SalesFen    terminal.Fen      `json:"sales_fen"`
	DiscountFen terminal.Fen      `json:"discount_fen"`
	Online      bool              `json:"online"`
	Standing    terminal.Standing `json:"standing"`
	Detail      string            `json:"detail,omitempty"`
	Flags       []string          `json:"flags,omitempty"`
}

func rowOf(l *terminal.Line) Row {
	r := l.Record
	d := l.Detail
	if d == "" {
		d = l.OfDetail
	}
	return Row{ID: r.ID, Kind: r.Kind, At: r.At.In(terminal.Zone).Format(time.DateTime), MerchantID: r.MerchantID,
		Category: r.Voucher.Category, Voucher: r.Voucher.ID.String(), Holder: r.Voucher.Holder.String(),
		SalesFen: r.TotalFen, DiscountFen: r.DiscountFen, Online: r.Online, Standing: l.Standing(), Detail: d, Flags: r.Flags}
}

// groups sums lines into accounts by a key.
type groups struct {
	order []string
	by    map[string]*Group
}

func (g *groups) add(key, name string, l terminal.Line) {
	if g.by == nil {
		g.by = map[string]*Group{}
	}
	x := g.by[key]
	if x == nil {
		x = &Group{Key: key, Name: name}
		g.by[key] = x
		g.order = append(g.order, key)
	}
	x.Add(l)
}

func (g *groups) list(less func(a, b string) int) []Group {
	keys := slices.Clone(g.order)
	slices.SortFunc(keys, less)
	out := make([]Group, 0, len(keys))
	for _, k := range keys {
		out = append(out, *g.by[k])
	}
	return out
}

// Build makes the report of a loaded period for programme prog, with the
// admin log and, when the issuing side reports it, the issuance.
func Build(p *Period, prog *terminal.Programme, actions []Action, iss *Issuance, now time.Time) *Report {
	rep := &Report{Programme: prog.Name, From: p.From.Format(time.DateOnly), Until: p.Until.Format(time.DateOnly),
		Generated: now.In(terminal.Zone).Format(time.DateTime), Issuance: iss,
		Conflicts: []Row{}, RuleBreaks: []Row{}, Flagged: []Row{}}
	rep.Actions = make([]Action, 0, len(actions))
	for _, a := range actions {
		a.At = a.At.In(terminal.Zone) // as every store gives it back, in the programme's zone
		rep.Actions = append(rep.Actions, a)
	}
	var cat, round, denom, day, mer groups
	holders := map[terminal.HolderID]bool{}
	catHolders := map[terminal.Category]map[terminal.HolderID]bool{}
	regHolders := map[uint32]map[terminal.HolderID]bool{}
	redeemed := map[string]map[terminal.Category]bool{}
	for i := range p.Lines {
		l := p.Lines[i]
		r := l.Record
		rep.Total.Add(l)
		c := r.Voucher.Category
		cat.add(strconv.Itoa(int(c)), c.Name(), l)
		round.add(fmt.Sprintf("%03d", r.Voucher.Round), fmt.Sprintf("第%d轮 round %d", r.Voucher.Round, r.Voucher.Round), l)
		d := r.Voucher.Denomination()
		denom.add(fmt.Sprintf("%d-%012d-%012d", c, d.SpendFen+d.ValueFen, d.OffFen), c.Name()+" "+d.String(), l)
		dk := r.At.In(terminal.Zone).Format(time.DateOnly)
		day.add(dk, dk, l)
		m := p.Merchants[r.MerchantID]
		mer.add(r.MerchantID, m.Name, l)
		switch l.Standing() {
		case terminal.Conflicted:
			rep.Conflicts = append(rep.Conflicts, rowOf(&l))
			continue
		case terminal.RuleBreak:
			rep.RuleBreaks = append(rep.RuleBreaks, rowOf(&l))
			continue
		case terminal.Pending:
			continue
		}
		if r.Kind != terminal.KindRedemption {
			continue
		}
		if len(r.Flags) > 0 {
			rep.Flagged = append(rep.Flagged, rowOf(&l))
		}
		rep.ByHour[r.At.In(terminal.Zone).Hour()]++
		h := r.Voucher.Holder
		holders[h] = true
		if redeemed[r.MerchantID] == nil {
			redeemed[r.MerchantID] = map[terminal.Category]bool{}
		}
		redeemed[r.MerchantID][c] = true
		addSet(catHolders, c, h)
		addSet(regHolders, m.Region, h)
	}
	byKey := func(a, b string) int { return cmp.Compare(a, b) }
	rep.ByCategory = cat.list(byKey)
	rep.ByRound = round.list(byKey)
	rep.ByDenomination = denom.list(byKey)
	rep.ByDay = day.list(byKey)
	for _, g := range mer.list(byKey) {
		m := p.Merchants[g.Key]
		rep.ByMerchant = append(rep.ByMerchant, MerchantGroup{Group: g, Category: m.Category.String(), Region: m.Region,
			Blocked: m.Blocked, OfflineShare: g.OfflineShare()})
	}
	for _, plan := range prog.Categories {
		b := Burn{Category: plan.Code.String(), Name: plan.Name, BudgetFen: plan.BudgetFen}
		if g := cat.by[strconv.Itoa(int(plan.Code))]; g != nil {
			b.SubsidyFen = g.SubsidyFen
		}
		b.Share = fenShare(b.SubsidyFen, b.BudgetFen)
		rep.Budget = append(rep.Budget, b)
	}
	rep.Coverage = coverage(p, holders, redeemed, catHolders, regHolders)
	rep.Signals = Signals(p)
	return rep
}

func addSet[K comparable](m map[K]map[terminal.HolderID]bool, k K, h terminal.HolderID) {
	if m[k] == nil {
		m[k] = map[terminal.HolderID]bool{}
	}
	m[k][h] = true
}

// fenShare is part ÷ whole as a percentage in hundredths, rounded half up.
func fenShare(part, whole terminal.Fen) terminal.Ratio {
	if whole <= 0 || part <= 0 {
		return 0
	}
	return terminal.Ratio((int64(part)*20000 + int64(whole)) / (2 * int64(whole)))
}

func coverage(p *Period, holders map[terminal.HolderID]bool, redeemed map[string]map[terminal.Category]bool,
	catHolders map[terminal.Category]map[terminal.HolderID]bool, regHolders map[uint32]map[terminal.HolderID]bool) Coverage {
	cv := Coverage{Holders: len(holders), Merchants: len(redeemed), MerchantsEnrolled: len(p.Merchants)}
	cv.MerchantShare = terminal.Share(cv.Merchants, cv.MerchantsEnrolled)
	for c := terminal.Retail; c <= terminal.Love; c++ {
		g := CoverageGroup{Key: c.String(), Name: c.Name(), Holders: len(catHolders[c])}
		for id, m := range p.Merchants {
			if m.Accepts(c) {
				g.MerchantsEnrolled++
				if redeemed[id][c] {
					g.Merchants++
				}
			}
		}
		cv.ByCategory = append(cv.ByCategory, g)
	}
	regions := map[uint32]*CoverageGroup{}
	for id, m := range p.Merchants {
		g := regions[m.Region]
		if g == nil {
			g = &CoverageGroup{Key: strconv.Itoa(int(m.Region)), Name: strconv.Itoa(int(m.Region)), Holders: len(regHolders[m.Region])}
			regions[m.Region] = g
		}
		g.MerchantsEnrolled++
		if len(redeemed[id]) > 0 {
			g.Merchants++
		}
	}
	for _, g := range regions {
		cv.ByRegion = append(cv.ByRegion, *g)
	}
	slices.SortFunc(cv.ByRegion, func(a, b CoverageGroup) int { return cmp.Compare(a.Key, b.Key) })
	return cv
}
