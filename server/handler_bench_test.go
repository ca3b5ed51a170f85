package server_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/license"
)

// BenchmarkHandler measures what the server's own code costs per request,
// without TLS, HTTP parsing or the network: the handler of each kind of
// request the SDK sends, on the embedded store, called directly with the
// client certificate a TLS connection would carry. Over loopback TLS the
// same requests cost several times as much; this is the part the server
// adds to what any HTTPS server pays (see licensor bench --probe).
func BenchmarkHandler(b *testing.B) {
	site := sitetest.New(b)
	srv := site.NewServer("a", sitetest.Product("ocr", 1000, 0))
	r := srv.Start("")
	h := r.Handler()
	state := peerState(b, site, "app1")
	post := func(path string, body []byte) int {
		req, err := http.NewRequest(http.MethodPost, "https://"+r.Addr+path, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.TLS = state
		w := &discard{header: http.Header{}}
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Logf("%s: %s", path, w.last)
		}
		return w.status
	}
	l, err := license.Load(srv.Config.License, site.VendorPub)
	if err != nil {
		b.Fatal(err)
	}
	held := l.ID
	const ids = 16
	body := func(format string, i int) []byte { return []byte(fmt.Sprintf(format, i, held)) }
	for i := range ids {
		if code := post(api.PathAuthorize, body(`{"product":"ocr","instance_id":"inst-%02d","mode":"async","have_license":%q}`, i)); code != http.StatusOK {
			b.Fatalf("authorize: HTTP %d", code)
		}
	}
	for _, c := range []struct {
		name, path, format string
	}{
		{"heartbeat-renewal", api.PathHeartbeat, `{"product":"ocr","instance_id":"inst-%02d","mode":"async","have_license":%q,"calls":40,"verdict":false}`},
		{"heartbeat-signed", api.PathHeartbeat, `{"product":"ocr","instance_id":"inst-%02d","mode":"async","have_license":%q,"calls":40,"nonce":"bm9uY2Utbm9uY2Utbm9uY2U"}`},
		{"authorize", api.PathAuthorize, `{"product":"ocr","instance_id":"inst-%02d","have_license":%q,"nonce":"bm9uY2Utbm9uY2Utbm9uY2U"}`},
	} {
		bodies := make([][]byte, ids)
		for i := range bodies {
			bodies[i] = body(c.format, i)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if code := post(c.path, bodies[i%ids]); code != http.StatusOK {
					b.Fatalf("HTTP %d", code)
				}
				i++
			}
		})
	}
}

// peerState is the connection state of a TLS connection made with the
// site client name's certificate.
func peerState(b *testing.B, site *sitetest.Site, name string) *tls.ConnectionState {
	certFile, _ := site.Client(name)
	data, err := os.ReadFile(certFile)
	if err != nil {
		b.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		b.Fatalf("%s: no PEM block", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	return &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{cert}}
}

// discard is a ResponseWriter that keeps the status and drops the body.
type discard struct {
	header http.Header
	status int
	last   []byte
}

func (w *discard) Header() http.Header { return w.header }

func (w *discard) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discard) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.last = p
	return len(p), nil
}
