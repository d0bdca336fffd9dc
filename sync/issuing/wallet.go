package issuing

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed wallet
var walletFiles embed.FS

// walletHandler serves /wallet/: the consumer's page, standing in for the
// payment app of the plan. Everything it needs is embedded (no CDN).
func walletHandler() http.Handler {
	sub, err := fs.Sub(walletFiles, "wallet")
	if err != nil {
		panic(err) // the embedded directory is part of the build
	}
	return http.StripPrefix("/wallet/", http.FileServer(http.FS(sub)))
}
