package county_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/county"
	"github.com/voucherpos/voucherpos/terminal"
)

// blocks records the console's blocks; the real hub's are in cmd/voucherd's test.
type blocks struct{ got []string }

func (b *blocks) Block(_ context.Context, id string) error {
	b.got = append(b.got, "block "+id)
	return nil
}
func (b *blocks) Unblock(_ context.Context, id string) error {
	b.got = append(b.got, "unblock "+id)
	return nil
}
func (b *blocks) AddAction(_ context.Context, a county.Action) error {
	b.got = append(b.got, "log "+a.What+" "+a.Target+" "+a.Why)
	return nil
}

func TestConsole_Token(t *testing.T) {
	c := newChain(t)
	busyDay(c)
	b := &blocks{}
	con := county.NewConsole(c, b, b, terminal.Qinshui2022(), "s3cret", func() time.Time { return day.Add(20 * time.Hour) })
	srv := httptest.NewServer(con.Handler())
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	login := func(form url.Values) string {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/console/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Request.URL.String()
	}
	if got := login(url.Values{"name": {"审计"}, "token": {"wrong"}}); !strings.HasSuffix(got, "/console/login?e=token") {
		t.Fatalf("wrong token landed on %s", got)
	}
	if got := login(url.Values{"name": {""}, "token": {"s3cret"}}); !strings.HasSuffix(got, "/console/login?e=name") {
		t.Fatalf("no name landed on %s", got)
	}
	if got := login(url.Values{"name": {"审计\x00员"}, "token": {"s3cret"}}); !strings.HasSuffix(got, "/console/") {
		t.Fatalf("right token landed on %s", got)
	}
	// A forged cookie is no session.
	u, _ := url.Parse(srv.URL + "/console/")
	forged := &http.Cookie{Name: "vp_console", Value: "5a6h6K6h.AAAA"}
	req, _ := http.NewRequest("GET", u.String(), nil)
	req.AddCookie(forged)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/console/login" {
		t.Errorf("forged cookie reached %s", resp.Request.URL)
	}
	form := url.Values{"reason": {"核查"}, "confirm": {"yes"}}
	req, _ = http.NewRequest("POST", srv.URL+"/console/merchants/M2/block", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if strings.Join(b.got, "|") != "block M2|log "+county.WhatBlock+" M2 核查" {
		t.Errorf("calls %v", b.got)
	}
	for _, path := range []string{"/console/merchants/M2/explode", "/console/nothing"} {
		req, _ = http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, err := cl.Do(req); err != nil || resp.StatusCode == http.StatusOK && !strings.Contains(resp.Request.URL.Path, "login") {
			t.Errorf("POST %s: %v %v", path, resp.StatusCode, err)
		}
	}
}

func TestConsole_LoopbackOnly(t *testing.T) {
	c := newChain(t)
	con := county.NewConsole(c, &blocks{}, &blocks{}, terminal.Qinshui2022(), "", nil)
	r := httptest.NewRequest("GET", "/console/login", nil)
	r.RemoteAddr = "203.0.113.9:5000"
	w := httptest.NewRecorder()
	con.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Errorf("a remote caller without a token: %d", w.Code)
	}
	r.RemoteAddr = "127.0.0.1:5000"
	w = httptest.NewRecorder()
	con.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "县级监管台") {
		t.Errorf("loopback: %d", w.Code)
	}
}
