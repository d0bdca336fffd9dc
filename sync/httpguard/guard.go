// Package httpguard keeps browsers from acting for anyone on the loopback
// HTTP APIs (voucherd's /admin/ and posagent's /api/v1/): a foreign web page
// can make the user's browser send requests to 127.0.0.1, so each request
// must name the server by a host it answers to (DNS rebinding), come from
// the same origin (Origin, Sec-Fetch-Site), and not declare a body of
// another type than JSON (a form or text/plain post needs no CORS
// preflight; JSON does).
package httpguard

import (
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Policy says what a guarded API accepts. The zero value accepts only
// loopback hosts (127.0.0.0/8, ::1, localhost) and same-origin requests.
type Policy struct {
	// Hosts are host names (without port) accepted beyond the loopback
	// ones: the address a server listening on a LAN interface serves.
	Hosts []string
	// AnyHost accepts every Host: for requests already authenticated by a
	// secret a browser never attaches by itself (an Authorization token).
	AnyHost bool
}

// Refusal is a request the guard turns away: an HTTP status and a message
// in Chinese and English.
type Refusal struct {
	Status    int
	Code      string
	Message   string
	MessageEN string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.MessageEN }

// Check returns nil for a request p accepts, or why not.
func (p Policy) Check(r *http.Request) *Refusal {
	if !p.AnyHost && !p.hostOK(r.Host) {
		return &Refusal{http.StatusMisdirectedRequest, "wrong_host",
			"请求的主机名不是本服务的地址", "Host " + quote(r.Host) + " is not an address this server answers to"}
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		return &Refusal{http.StatusForbidden, "cross_origin",
			"拒绝来自其他网页的请求", "cross-origin request from " + quote(o) + " refused"}
	}
	switch s := r.Header.Get("Sec-Fetch-Site"); s {
	case "", "same-origin", "none":
	default:
		return &Refusal{http.StatusForbidden, "cross_origin",
			"拒绝来自其他网页的请求", "cross-site request (Sec-Fetch-Site: " + quote(s) + ") refused"}
	}
	// A browser's form or text/plain post needs no CORS preflight: a body
	// declared as anything but JSON is refused. (A body with no type at all
	// is read as JSON; a browser sending one cross-origin says so in Origin.)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !isJSON(ct) {
			return &Refusal{http.StatusUnsupportedMediaType, "not_json",
				"请求内容必须是 JSON（Content-Type: application/json）", "request body must be JSON (Content-Type: application/json)"}
		}
	}
	return nil
}

// Wrap serves next for the requests p accepts and answers the others with
// {"error": {"code", "message", "message_en"}}.
func (p Policy) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ref := p.Check(r); ref != nil {
			Write(w, ref)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Write answers a refusal as JSON.
func Write(w http.ResponseWriter, ref *Refusal) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(ref.Status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
		"code": ref.Code, "message": ref.Message, "message_en": ref.MessageEN}})
}

func (p Policy) hostOK(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "" {
		return false
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, a := range p.Hosts {
		if strings.EqualFold(a, h) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether the Origin header names the host the request
// was sent to (scheme http or https, same host and port).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false // includes "null": a sandboxed or file page
	}
	return strings.EqualFold(u.Host, host)
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return "\"" + s + "\""
}

// DecodeObject decodes a JSON request body that must be an object: an
// empty body or JSON null is an error (a caller would otherwise act on a
// zero request), as is anything after the object.
func DecodeObject(b []byte, v any) error {
	t := strings.TrimSpace(string(b))
	if t == "" || t == "null" || t[0] != '{' {
		return errNotObject
	}
	dec := json.NewDecoder(strings.NewReader(t))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errTrailing
	}
	return nil
}

var (
	errNotObject = jsonError("body must be a JSON object")
	errTrailing  = jsonError("body has data after the JSON object")
)

type jsonError string

func (e jsonError) Error() string { return string(e) }
