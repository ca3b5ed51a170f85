package loadtest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status int
		body   string
		reuse  bool
		err    string // in the error; "" for none
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 200, "{}", true, ""},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n{}", 200, "{}", true, ""},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\n{}", 200, "{}", true, ""},
		{"chunked", "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 403, "abcde", true, ""},
		{"close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 503, "x", false, ""},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, "x", false, ""},
		{"to the end", "HTTP/1.1 200 OK\r\n\r\nall of it", 200, "all of it", false, ""},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", 204, "", true, ""},
		{"empty", "", 0, "", false, "unexpected EOF"},
		{"cut in the status line", "HTTP/1.1 20", 0, "", false, "unexpected EOF"},
		{"cut in the headers", "HTTP/1.1 200 OK\r\nContent-Len", 0, "", false, "unexpected EOF"},
		{"cut in the body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 0, "", false, "unexpected EOF"},
		{"cut in a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 0, "", false, "unexpected EOF"},
		{"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n\r\n", 0, "", false, "not HTTP/1.1"},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", 0, "", false, "not HTTP/1.1"},
		{"status glued to reason", "HTTP/1.1 2000K\r\n\r\n", 0, "", false, "not HTTP/1.1"},
		{"interim", "HTTP/1.1 100 Continue\r\n\r\n", 0, "", false, "interim"},
		{"header without colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", 0, "", false, "header"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, "", false, "Content-Length"},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", 0, "", false, "Content-Length"},
		{"other encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, "", false, "Transfer-Encoding"},
		{"too large", "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n", 0, "", false, "larger than 16"},
		{"too large in chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n" + strings.Repeat("x", 17) + "\r\n0\r\n\r\n", 0, "", false, "larger than 16"},
		{"long line", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("x", 5000) + "\r\n\r\n", 0, "", false, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, reuse, err := readResponse(bufio.NewReaderSize(strings.NewReader(tt.in), 4096), 16)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("readResponse = %d %q, %v; want an error with %q", status, body, err, tt.err)
				}
				return
			}
			if err != nil || status != tt.status || string(body) != tt.body || reuse != tt.reuse {
				t.Fatalf("readResponse = %d %q reuse %v, %v; want %d %q reuse %v", status, body, reuse, err, tt.status, tt.body, tt.reuse)
			}
		})
	}
}

// TestReadResponseInTurn: answers on one connection are read one after
// another, none eating into the next.
func TestReadResponseInTurn(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc"
	br := bufio.NewReader(strings.NewReader(in))
	for _, want := range []string{"a", "b", "c"} {
		_, body, reuse, err := readResponse(br, 16)
		if err != nil || string(body) != want || !reuse {
			t.Fatalf("readResponse = %q reuse %v, %v; want %q", body, reuse, err, want)
		}
	}
	if _, _, _, err := readResponse(br, 16); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("past the last answer: %v, want unexpected EOF", err)
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	f.Add("HTTP/1.1 503 x\r\nConnection: close\r\n\r\nrest")
	f.Fuzz(func(t *testing.T, in string) {
		status, body, _, err := readResponse(bufio.NewReaderSize(strings.NewReader(in), 4096), 64)
		if err != nil {
			if status != 0 || body != nil {
				t.Fatalf("an error with an answer: %d %q, %v", status, body, err)
			}
			return
		}
		if status < 200 || status > 999 || len(body) > 64 {
			t.Fatalf("readResponse = %d with %d bytes", status, len(body))
		}
	})
}

// TestPosterAddress: a server URL without a port is dialled on 443, as
// Go's client does, and named in the Host header as given.
func TestPosterAddress(t *testing.T) {
	for _, tt := range []struct{ url, host, addr string }{
		{"https://licensor.example.com", "licensor.example.com", "licensor.example.com:443"},
		{"https://licensor.example.com/", "licensor.example.com", "licensor.example.com:443"},
		{"https://127.0.0.1:8443", "127.0.0.1:8443", "127.0.0.1:8443"},
		{"https://[::1]", "[::1]", "[::1]:443"},
	} {
		p := newPoster(tt.url, &tls.Config{}, 1, time.Second)
		if p.host != tt.host || p.addr != tt.addr {
			t.Errorf("%s: host %q, address %q; want %q, %q", tt.url, p.host, p.addr, tt.host, tt.addr)
		}
	}
}

// TestPosterKeepsAndRenewsConnections: requests share a connection, and
// one the server closed while idle is replaced without a failed request.
func TestPosterKeepsAndRenewsConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/x" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Write(body)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	p := newPoster(srv.URL, &tls.Config{RootCAs: roots}, 1, 5*time.Second)
	defer p.close()
	ctx := context.Background()
	for i, step := range []string{"first", "kept", "after the server closed it"} {
		if i == 2 {
			srv.CloseClientConnections()
		}
		status, data, err := p.send(ctx, "/v1/x", []byte(`{"n":1}`))
		if err != nil || status != 200 || string(data) != `{"n":1}` {
			t.Fatalf("%s request = %d %q, %v", step, status, data, err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections for three requests, one closed by the server; want 2", n)
	}
}
