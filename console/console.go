// Package console is the operator's web console: the pages, embedded in
// the binary (HTML, CSS and JavaScript written for it, with no CDN, font
// or script from elsewhere, so that it works air-gapped), the security
// headers every answer under /console/ carries, and the local proxy that
// 'licensor console' runs so that a browser reaches the site server
// without importing the admin certificate.
//
// The site server (package server) serves the pages and their JSON under
// /console/ to admin-role clients; the pages read that JSON and draw
// their gauges and charts as inline SVG.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Prefix is where the site server serves the console.
const Prefix = "/console/"

// CSP is the Content-Security-Policy of every console answer: the pages
// load only their own script and style sheet, run no inline script or
// style, talk only to their own origin and cannot be framed.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// SetHeaders sets the security headers of a console answer: the CSP, no
// content sniffing, no referrer, no caching (the answers hold seat data),
// no framing, and no sharing of the window or the resource with another
// origin.
func SetHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

//go:embed static
var static embed.FS

// Assets are the console's files: index.html and what it loads.
var Assets = mustSub(static, "static")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// contentTypes are the types of the files in Assets, by extension.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// ServeAsset answers a GET of a file under Prefix (the page for Prefix
// itself) and reports whether there is such a file; it sets no headers
// when there is none.
func ServeAsset(w http.ResponseWriter, r *http.Request) bool {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	if name == "" {
		name = "index.html"
	}
	if name != path.Clean(name) || strings.Contains(name, "/") {
		return false
	}
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		return false
	}
	data, err := fs.ReadFile(Assets, name)
	if err != nil {
		return false
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
	return true
}
