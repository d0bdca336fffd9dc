package httpguard_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/voucherpos/voucherpos/sync/httpguard"
)

func TestPolicy_Check(t *testing.T) {
	lan := httpguard.Policy{Hosts: []string{"192.168.1.20"}}
	for _, tc := range []struct {
		name   string
		p      httpguard.Policy
		method string
		host   string
		hdr    map[string]string
		body   string
		want   int // 0: accepted
	}{
		{"Loopback", httpguard.Policy{}, "GET", "127.0.0.1:8080", nil, "", 0},
		{"LoopbackV6", httpguard.Policy{}, "GET", "[::1]:8080", nil, "", 0},
		{"Localhost", httpguard.Policy{}, "GET", "LOCALHOST:8080", nil, "", 0},
		{"Navigation", httpguard.Policy{}, "GET", "127.0.0.1:8080", map[string]string{"Sec-Fetch-Site": "none"}, "", 0},
		{"Rebinding", httpguard.Policy{}, "GET", "attacker.example:8080", nil, "", 421},
		{"NoHost", httpguard.Policy{}, "GET", "", nil, "", 421},
		{"LANHost", lan, "GET", "192.168.1.20:8080", nil, "", 0},
		{"AnyHost", httpguard.Policy{AnyHost: true}, "GET", "voucherd.example", nil, "", 0},
		{"OtherPort", httpguard.Policy{}, "POST", "127.0.0.1:8080", map[string]string{"Origin": "http://127.0.0.1:9999", "Content-Type": "application/json"}, "{}", 403},
		{"SameSite", httpguard.Policy{}, "GET", "127.0.0.1:8080", map[string]string{"Sec-Fetch-Site": "same-site"}, "", 403},
		{"JSONCharset", httpguard.Policy{}, "POST", "127.0.0.1:8080", map[string]string{"Content-Type": "application/json; charset=utf-8"}, "{}", 0},
		{"NoTypeWithBody", httpguard.Policy{}, "POST", "127.0.0.1:8080", nil, "{}", 0},
		{"TextPlain", httpguard.Policy{}, "POST", "127.0.0.1:8080", map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, "{}", 415},
		{"NoTypeNoBody", httpguard.Policy{}, "POST", "127.0.0.1:8080", nil, "", 0},
		{"Multipart", httpguard.Policy{}, "POST", "127.0.0.1:8080", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, "--x--", 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/api/v1/checkouts", strings.NewReader(tc.body))
			if tc.body == "" {
				r.Body, r.ContentLength = http.NoBody, 0
			}
			r.Host = tc.host
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			got := 0
			if ref := tc.p.Check(r); ref != nil {
				got = ref.Status
				if ref.Message == "" || ref.MessageEN == "" || ref.Code == "" {
					t.Errorf("refusal without code or messages: %+v", ref)
				}
			}
			if got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDecodeObject(t *testing.T) {
	var v struct{ A int }
	for _, bad := range []string{"", "null", " null ", "[]", `"x"`, `{"A":1} {"A":2}`, `{"A":"x"}`} {
		if err := httpguard.DecodeObject([]byte(bad), &v); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	if err := httpguard.DecodeObject([]byte(` {"A":3} `), &v); err != nil || v.A != 3 {
		t.Errorf("good object: %v %+v", err, v)
	}
}
