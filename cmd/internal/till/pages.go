package till

import (
	"embed"
	"io/fs"
	"net/http"
)

// web holds the cashier screen and the merchant dashboard: plain HTML, CSS
// and JavaScript, no build step and nothing fetched from elsewhere, so the
// pages work on a terminal that is offline.
//
//go:embed web
var web embed.FS

func (s *Server) pages(m *http.ServeMux) {
	sub, _ := fs.Sub(web, "web")
	files := http.FileServerFS(sub)
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, name)
		}
	}
	m.HandleFunc("GET /{$}", page("index.html"))
	m.HandleFunc("GET /dashboard", page("dashboard.html"))
	m.Handle("GET /static/", http.StripPrefix("/static/", cacheShort(files)))
}

func cacheShort(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
