package server_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
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
	post := func(path string, body []byte) *discard {
		req, err := http.NewRequest(http.MethodPost, "https://"+r.Addr+path, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.TLS = state
		w := &discard{header: http.Header{}}
		h.ServeHTTP(w, req)
		return w
	}
	l, err := license.Load(srv.Config.License, site.VendorPub)
	if err != nil {
		b.Fatal(err)
	}
	held := l.ID
	const ids = 16
	body := func(format string, i int) []byte { return []byte(fmt.Sprintf(format, i, held)) }
	for i := range ids {
		if w := post(api.PathAuthorize, body(`{"product":"ocr","instance_id":"inst-%02d","mode":"async","have_license":%q}`, i)); w.status != http.StatusOK {
			b.Fatalf("authorize: HTTP %d: %s", w.status, w.last)
		}
	}
	for _, c := range []struct {
		name, path, format string
		signed             bool
	}{
		{"heartbeat-renewal", api.PathHeartbeat, `{"product":"ocr","instance_id":"inst-%02d","mode":"async","have_license":%q,"calls":40,"verdict":false}`, false},
		{"heartbeat-signed", api.PathHeartbeat, `{"product":"ocr","instance_id":"inst-%02d","mode":"async","have_license":%q,"calls":40,"nonce":"bm9uY2Utbm9uY2Utbm9uY2U"}`, true},
		{"authorize", api.PathAuthorize, `{"product":"ocr","instance_id":"inst-%02d","have_license":%q,"nonce":"bm9uY2Utbm9uY2Utbm9uY2U"}`, true},
	} {
		bodies := make([][]byte, ids)
		for i := range bodies {
			bodies[i] = body(c.format, i)
		}
		// Each kind answers what it is named for: a renewal carries no
		// verdict, and no answer carries the license the client holds.
		w := post(c.path, bodies[0])
		if signed := bytes.Contains(w.last, []byte(`"verdict":`)); w.status != http.StatusOK || signed != c.signed || bytes.Contains(w.last, []byte(`"license":`)) {
			b.Fatalf("%s: HTTP %d, signed %v (want %v): %s", c.name, w.status, signed, c.signed, w.last)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if w := post(c.path, bodies[i%ids]); w.status != http.StatusOK {
					b.Fatalf("HTTP %d: %s", w.status, w.last)
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
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		b.Fatalf("%s: %v", certFile, err)
	}
	return &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13, PeerCertificates: certs[:1]}
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
