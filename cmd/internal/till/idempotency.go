package till

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"sync"
	"time"
)

// Idempotency-Key: a till that retries a POST (its connection dropped after
// sending) gets the first answer again instead of a second sale. Keys are
// kept for idemTTL, at most idemMax of them.
const (
	idemTTL    = 24 * time.Hour
	idemMax    = 2000
	idemKeyMax = 200
)

type idemEntry struct {
	fingerprint [32]byte // method, path and body
	done        chan struct{}
	status      int
	header      http.Header
	body        []byte
	at          time.Time
}

type idempotency struct {
	mu    sync.Mutex
	m     map[string]*idemEntry
	order []string
	now   func() time.Time
}

func newIdempotency(now func() time.Time) *idempotency {
	return &idempotency{m: map[string]*idemEntry{}, now: now}
}

// recorder captures a response to replay it.
type recorder struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (r *recorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.buf.Write(b)
	return r.ResponseWriter.Write(b)
}

// do runs h, replay-safe for requests carrying an Idempotency-Key. body
// is the request body already read by the caller (limits applied).
func (s *idempotency) do(w http.ResponseWriter, r *http.Request, body []byte, h func(http.ResponseWriter)) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		h(w)
		return
	}
	if len(key) > idemKeyMax {
		writeError(w, http.StatusBadRequest, "bad_idempotency_key", "Idempotency-Key 过长", "Idempotency-Key longer than 200 bytes")
		return
	}
	fp := sha256.New()
	fp.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	fp.Write(body)
	var sum [32]byte
	fp.Sum(sum[:0])

	s.mu.Lock()
	e, ok := s.m[key]
	if ok && s.now().Sub(e.at) > idemTTL {
		delete(s.m, key)
		ok = false
	}
	if !ok {
		e = &idemEntry{fingerprint: sum, done: make(chan struct{}), at: s.now()}
		s.m[key] = e
		s.order = append(s.order, key)
		for len(s.order) > idemMax {
			delete(s.m, s.order[0])
			s.order = s.order[1:]
		}
		s.mu.Unlock()
		rec := &recorder{ResponseWriter: w}
		h(rec)
		s.mu.Lock()
		e.status, e.body, e.header = rec.status, rec.buf.Bytes(), w.Header().Clone()
		if e.status >= 500 { // not an answer: let the retry run again
			delete(s.m, key)
		}
		s.mu.Unlock()
		close(e.done)
		return
	}
	s.mu.Unlock()
	if e.fingerprint != sum {
		writeError(w, http.StatusUnprocessableEntity, "idempotency_key_reused",
			"Idempotency-Key 已用于另一个请求", "Idempotency-Key was used for a different request")
		return
	}
	select {
	case <-e.done:
	case <-r.Context().Done():
		return
	}
	for k, v := range e.header {
		w.Header()[k] = v
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
}
