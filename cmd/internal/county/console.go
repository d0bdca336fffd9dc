package county

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/voucherpos/voucherpos/terminal"
)

// Blocker blocks and unblocks merchants (the hub).
type Blocker interface {
	Block(ctx context.Context, merchantID string) error
	Unblock(ctx context.Context, merchantID string) error
}

// ActionLog appends to the append-only admin log.
type ActionLog interface {
	AddAction(ctx context.Context, a Action) error
}

// Console is the county's web console at /console/: the programme at a
// glance, merchants with block and unblock, and the admin log. It serves
// server-rendered pages with inline styles and SVG (no script from
// elsewhere, no CDN).
type Console struct {
	Source    Source
	Blocker   Blocker
	Log       ActionLog
	Programme *terminal.Programme
	// Token is the admin token; "" admits loopback callers only.
	Token string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	secret []byte
}

// NewConsole returns a console with a fresh session key (sessions end when
// the server restarts).
func NewConsole(src Source, b Blocker, log ActionLog, prog *terminal.Programme, token string, now func() time.Time) *Console {
	c := &Console{Source: src, Blocker: b, Log: log, Programme: prog, Token: token, Now: now, secret: make([]byte, 32)}
	_, _ = rand.Read(c.secret)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

const sessionCookie = "vp_console"

// What the admin log says of a block and an unblock.
const (
	WhatBlock   = "停用商户 block merchant"
	WhatUnblock = "恢复商户 unblock merchant"
)

// maxReason is the longest reason or name the console keeps.
const maxReason = 200

// Handler serves /console/.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/login", c.loginPage)
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("GET /console/{$}", c.auth(c.overview))
	mux.HandleFunc("POST /console/merchants/{id}/{action}", c.auth(c.merchantAction))
	mux.HandleFunc("GET /console/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if !c.Allowed(r) {
			http.Error(w, "控制台仅限本机访问(未配置令牌) / console is loopback only (no admin token configured)", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Allowed reports whether the caller may reach the console at all: with a
// token anyone who then logs in with it; without one, loopback callers.
func (c *Console) Allowed(r *http.Request) bool {
	if c.Token != "" {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Console) sign(name string) string {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(name))
	return base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// who returns the operator named by a valid session cookie, or "".
func (c *Console) who(r *http.Request) string {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	n, _, ok := strings.Cut(ck.Value, ".")
	name, err := base64.RawURLEncoding.DecodeString(n)
	if !ok || err != nil || !hmac.Equal([]byte(c.sign(string(name))), []byte(ck.Value)) {
		return ""
	}
	return string(name)
}

func (c *Console) auth(next func(w http.ResponseWriter, r *http.Request, who string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who := c.who(r)
		if who == "" {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !sameOrigin(r) {
			http.Error(w, "跨站请求被拒绝 / cross-origin request refused", http.StatusForbidden)
			return
		}
		next(w, r, who)
	}
}

// sameOrigin refuses a form posted from another site's page.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return r.Header.Get("Sec-Fetch-Site") == "" || r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// clean trims s, drops control characters and caps it at maxReason runes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if utf8.RuneCountInString(s) > maxReason {
		s = string([]rune(s)[:maxReason])
	}
	return s
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, loginTmpl, map[string]any{"Token": c.Token != "", "Error": r.URL.Query().Get("e")})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil || !sameOrigin(r) {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	name := clean(r.PostForm.Get("name"))
	tok := r.PostForm.Get("token")
	switch {
	case name == "":
		http.Redirect(w, r, "/console/login?e=name", http.StatusSeeOther)
		return
	case c.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(c.Token)) != 1:
		http.Redirect(w, r, "/console/login?e=token", http.StatusSeeOther)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: c.sign(name), Path: "/console/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 12 * 3600})
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

func (c *Console) merchantAction(w http.ResponseWriter, r *http.Request, who string) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	reason := clean(r.PostForm.Get("reason"))
	var fn func(context.Context, string) error
	var what string
	switch action {
	case "block":
		fn, what = c.Blocker.Block, WhatBlock
	case "unblock":
		fn, what = c.Blocker.Unblock, WhatUnblock
	default:
		http.NotFound(w, r)
		return
	}
	if reason == "" || r.PostForm.Get("confirm") != "yes" {
		c.redirectMsg(w, r, "需填写原因并确认 / a reason and the confirmation are required")
		return
	}
	if err := fn(r.Context(), id); err != nil {
		c.redirectMsg(w, r, "操作失败 / failed: "+err.Error())
		return
	}
	a := Action{At: c.Now(), Who: who + " (" + r.RemoteAddr + ")", What: what, Target: id, Why: reason}
	if err := c.Log.AddAction(r.Context(), a); err != nil {
		c.redirectMsg(w, r, "已执行但未能记录 / done, but the log failed: "+err.Error())
		return
	}
	c.redirectMsg(w, r, "已"+what+" "+id)
}

func (c *Console) redirectMsg(w http.ResponseWriter, r *http.Request, msg string) {
	http.Redirect(w, r, "/console/?m="+url.QueryEscape(msg), http.StatusSeeOther)
}

// Overview is what the console's main page shows.
type Overview struct {
	Who, Msg   string
	Today      string
	From       string
	Programme  *Report
	Day        *Report
	Charts     []template.HTML
	Merchants  []ConsoleMerchant
	Actions    []Action
	Review     []Row
	ReviewMore int
}

// ConsoleMerchant is one merchant's line on the console.
type ConsoleMerchant struct {
	terminal.Merchant
	Today   int
	Account terminal.Account
	Offline terminal.Ratio
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, who string) {
	ov, err := c.Overview(r.Context())
	if err != nil {
		c.render(w, http.StatusInternalServerError, errorTmpl, err.Error())
		return
	}
	ov.Who, ov.Msg = who, clean(r.URL.Query().Get("m"))
	c.render(w, http.StatusOK, consoleTmpl, ov)
}

// Overview gathers the console's figures: the programme from its first day
// to today, and today.
func (c *Console) Overview(ctx context.Context) (*Overview, error) {
	now := c.Now()
	today := terminal.Day(now)
	from := today
	if d, err := terminal.ParseDay(c.Programme.Period.From); err == nil && d.Before(today) {
		from = d
	}
	acts, err := c.Source.Actions(ctx)
	if err != nil {
		return nil, err
	}
	p, err := Load(ctx, c.Source, from, today)
	if err != nil {
		return nil, err
	}
	prog := Build(p, c.Programme, acts, nil, now)
	var todayLines []terminal.Line
	for _, l := range p.Lines {
		if !l.Record.At.Before(today) {
			todayLines = append(todayLines, l)
		}
	}
	dayP := &Period{From: today, Until: today, Lines: todayLines, Stored: p.Stored, Sales: p.Sales, Merchants: p.Merchants}
	day := Build(dayP, c.Programme, acts, nil, now)
	ov := &Overview{Today: today.Format(time.DateOnly), From: from.Format(time.DateOnly), Programme: prog, Day: day}
	var burn, hour []Bar
	for _, b := range prog.Budget {
		burn = append(burn, Bar{Label: b.Name, Value: int64(b.Share), Text: b.Share.String() + "% · ¥" + b.SubsidyFen.Plain()})
	}
	for h, n := range day.ByHour {
		hour = append(hour, Bar{Label: strconv.Itoa(h), Value: int64(n), Text: strconv.Itoa(n)})
	}
	ov.Charts = []template.HTML{BarChart("预算使用(分类,占预算%) budget burn by category", burn, true, 100_00),
		BarChart("今日分时核销 today's redemptions by hour", hour, false, 0)}
	byM := map[string]*MerchantGroup{}
	for i := range prog.ByMerchant {
		byM[prog.ByMerchant[i].Key] = &prog.ByMerchant[i]
	}
	todayN := map[string]int{}
	for _, g := range day.ByMerchant {
		todayN[g.Key] = g.Redemptions
	}
	ids := make([]string, 0, len(p.Merchants))
	for id := range p.Merchants {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		cm := ConsoleMerchant{Merchant: p.Merchants[id], Today: todayN[id]}
		if g := byM[id]; g != nil {
			cm.Account, cm.Offline = g.Account, g.OfflineShare
		}
		ov.Merchants = append(ov.Merchants, cm)
	}
	ov.Review = append(append(append(ov.Review, prog.Conflicts...), prog.RuleBreaks...), prog.Flagged...)
	if len(ov.Review) > 50 {
		ov.ReviewMore, ov.Review = len(ov.Review)-50, ov.Review[len(ov.Review)-50:]
	}
	ov.Actions = slices.Clone(acts)
	slices.Reverse(ov.Actions)
	return ov, nil
}

func (c *Console) render(w http.ResponseWriter, status int, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.Execute(w, data); err != nil {
		fmt.Fprintf(w, "<p>%s</p>", template.HTMLEscapeString(err.Error()))
	}
}

const consoleStyle = Style + `
header{display:flex;justify-content:space-between;align-items:baseline;border-bottom:3px solid #b22222;margin-bottom:8px}
.msg{background:#fff6d6;border:1px solid #e0c060;padding:6px 10px;margin:8px 0}
form.inline{display:flex;gap:4px;align-items:center;margin:0}
form.inline input[type=text]{width:11em}
button{font:inherit;padding:2px 10px;cursor:pointer}
button.danger{background:#b22222;color:#fff;border:1px solid #8b1a1a}
.blocked{color:#b22222;font-weight:bold}
`

var consoleFuncs = template.FuncMap{
	"yuan": func(f terminal.Fen) string { return f.Plain() },
	"at":   func(t time.Time) string { return t.In(terminal.Zone).Format("2006-01-02 15:04:05") },
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>县级监管台 登录 · County console login</title>
<style>` + Style + `form{max-width:360px} label{display:block;margin:10px 0 2px} input{font:inherit;width:100%;padding:4px}</style></head><body>
<h1>消费券县级监管台</h1><p class="sub">County console · 请登录 please sign in</p>
{{if eq .Error "token"}}<p class="msg">令牌错误 / wrong token</p>{{end}}{{if eq .Error "name"}}<p class="msg">请填写操作人 / your name is required</p>{{end}}
<form method="post" action="/console/login">
<label for="name">操作人姓名 your name (记入操作日志 / kept in the admin log)</label><input id="name" name="name" required maxlength="60">
{{if .Token}}<label for="token">管理令牌 admin token</label><input id="token" name="token" type="password" required>{{end}}
<p><button type="submit">登录 sign in</button></p></form></body></html>`))

var errorTmpl = template.Must(template.New("error").Parse(`<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>错误 error</title></head>
<body><h1>出错了 / error</h1><p>{{.}}</p></body></html>`))

var consoleTmpl = template.Must(template.New("console").Funcs(consoleFuncs).Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>县级监管台 · County console</title>
<style>` + consoleStyle + `</style></head><body>
<header><div><h1>{{.Programme.Programme}} · 县级监管台</h1><p class="sub">County console · 今日 today {{.Today}} (UTC+8) · 统计自 since {{.From}}</p></div>
<div class="sub">操作人 signed in as <b>{{.Who}}</b></div></header>
{{if .Msg}}<p class="msg" id="msg">{{.Msg}}</p>{{end}}
{{with .Programme.Total}}<div class="kpi">
<div>累计补贴 subsidy to date<b>¥{{yuan .SubsidyFen}}</b></div>
<div>净销售额 net sales<b>¥{{yuan .NetSalesFen}}</b></div>
<div>带动比 leverage<b>{{.Leverage}}</b></div>
<div>今日核销 today's redemptions<b>{{$.Day.Total.Redemptions}}</b></div>
<div>今日补贴 today's subsidy<b>¥{{yuan $.Day.Total.SubsidyFen}}</b></div>
<div>待核查 to review<b>{{len $.Programme.Signals}} 信号 · {{.Conflicts.Redemptions}} 冲突 · {{.RuleBreaks.Redemptions}} 违规</b></div>
</div>{{end}}
<p class="note">补贴=已受理核销的优惠−退款退回;带动比=净销售额÷补贴,为会计比率,不代表因果效应。Subsidy = discounts of accepted redemptions − what refunds return; leverage = net sales ÷ subsidy (not a causal effect).</p>
<div class="charts">{{range .Charts}}<div>{{.}}</div>{{end}}</div>
<h2>待核查的风险信号 Signals to review ({{len .Programme.Signals}})</h2>
<p class="note">信号提示需要核查的模式,并非违规结论。A signal is a pattern to review, not a finding.</p>
{{if .Programme.Signals}}<table><tr><th class="l">信号 signal</th><th class="l">对象 subject</th><th class="l">说明 detail</th><th class="l">记录 records</th></tr>
{{range .Programme.Signals}}<tr><td class="l">{{.Title}}</td><td class="l">{{.Subject}}</td><td class="l">{{.Detail}}</td><td class="l">{{range .Records}}{{.ID}} {{end}}</td></tr>{{end}}</table>{{else}}<p class="note">无 none</p>{{end}}
<h2>冲突、违规与标记交易 Conflicts, rule breaks and flagged ({{len .Review}}{{if .ReviewMore}} + {{.ReviewMore}}{{end}})</h2>
{{if .Review}}<table><tr><th class="l">记录 record</th><th>时间</th><th class="l">商户</th><th>券 voucher</th><th>优惠</th><th class="l">类型</th><th class="l">原因 why</th></tr>
{{range .Review}}<tr><td class="l">{{.ID}}</td><td>{{.At}}</td><td class="l">{{.MerchantID}}</td><td>{{.Voucher}}</td><td>{{yuan .DiscountFen}}</td><td class="l">{{.Standing}}</td><td class="l">{{.Detail}}{{range .Flags}} {{.}}{{end}}</td></tr>{{end}}</table>{{else}}<p class="note">无 none</p>{{end}}
<h2>商户 Merchants ({{len .Merchants}})</h2>
<table><tr><th class="l">商户 merchant</th><th>类别</th><th>区划</th><th>今日核销</th><th>累计补贴</th><th>带动比</th><th>离线占比</th><th class="l">状态 status</th><th class="l">操作 action (需原因并确认 reason + confirm)</th></tr>
{{range .Merchants}}<tr><td class="l">{{.ID}} {{.Name}}</td><td>{{.Category}}</td><td>{{.Region}}</td><td>{{.Today}}</td><td>{{yuan .Account.SubsidyFen}}</td><td>{{.Account.Leverage}}</td><td>{{.Offline}}%</td>
<td class="l">{{if .Blocked}}<span class="blocked">已停用 blocked</span>{{else}}正常 active{{end}}</td>
{{/* window.confirm: in an inline handler the form is in scope, and a bare confirm is its checkbox named confirm (a TypeError, and the form posts unconfirmed) */ -}}
<td class="l"><form class="inline" method="post" action="/console/merchants/{{.ID}}/{{if .Blocked}}unblock{{else}}block{{end}}"
 onsubmit="return window.confirm('{{if .Blocked}}确认恢复{{else}}确认停用{{end}}商户 {{.ID}}?\n原因:' + this.reason.value)">
<input type="text" name="reason" required maxlength="200" placeholder="原因 reason" aria-label="原因 reason">
<label><input type="checkbox" name="confirm" value="yes" required>确认</label>
<button type="submit" class="{{if not .Blocked}}danger{{end}}">{{if .Blocked}}恢复 unblock{{else}}停用 block{{end}}</button></form></td></tr>{{end}}</table>
<h2>管理操作日志 Admin log ({{len .Actions}}, 只增不改 append-only)</h2>
{{if .Actions}}<table><tr><th>时间 when</th><th class="l">操作人 who</th><th class="l">操作 what</th><th class="l">对象 target</th><th class="l">原因 why</th></tr>
{{range .Actions}}<tr><td>{{at .At}}</td><td class="l">{{.Who}}</td><td class="l">{{.What}}</td><td class="l">{{.Target}}</td><td class="l">{{.Why}}</td></tr>{{end}}</table>{{else}}<p class="note">无 none</p>{{end}}
</body></html>`))
