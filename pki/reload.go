package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ServerTLS is a server's TLS configuration whose certificate and client
// CA can be replaced while it serves: each handshake takes the pair in
// force when it starts, and connections already open keep theirs. It is
// what lets a site server present a certificate 'licensor pki server' has
// just reissued without a restart.
type ServerTLS struct {
	caFile, certFile, keyFile string
	base                      *tls.Config
	cur                       atomic.Pointer[serverTLSState]
	reload                    sync.Mutex
}

// serverTLSState is one loaded pair with its CA, and the configuration a
// handshake uses with them.
type serverTLSState struct {
	cert   *tls.Certificate
	config *tls.Config
}

// ServerNextProtos are the ALPN protocols the configurations of ServerTLS
// offer, those net/http's server speaks by default. An http.Server serving
// with them sets its Protocols to ServerProtocols(), so that what is
// offered is what is served whatever GODEBUG says.
var ServerNextProtos = []string{"h2", "http/1.1"}

// ServerProtocols are the HTTP versions of ServerNextProtos.
func ServerProtocols() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	return &p
}

// NewServerTLS loads the site server's certificate, key and client CA as
// ServerTLSConfig does. With caFile "", no client certificate is asked
// for (a service that authenticates only itself, as the vendor's does).
// Failures are codes.CAFile and codes.ServerCert.
func NewServerTLS(caFile, certFile, keyFile string, now time.Time) (*ServerTLS, error) {
	s := &ServerTLS{caFile: caFile, certFile: certFile, keyFile: keyFile}
	st, err := s.load(now)
	if err != nil {
		return nil, err
	}
	s.cur.Store(st)
	s.base = &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().config, nil
		},
	}
	return s, nil
}

func (s *ServerTLS) load(now time.Time) (*serverTLSState, error) {
	var pool *x509.CertPool
	if s.caFile != "" {
		var err error
		if pool, err = LoadCertPool(s.caFile); err != nil {
			return nil, err
		}
	}
	pair, err := LoadServerCertificate(s.certFile, s.keyFile, now)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		NextProtos:   ServerNextProtos,
	}
	if pool != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	return &serverTLSState{cert: &cfg.Certificates[0], config: cfg}, nil
}

// Config is the configuration to serve with. Its GetConfigForClient hands
// each handshake the certificate and CA in force.
func (s *ServerTLS) Config() *tls.Config { return s.base }

// Current is the configuration new handshakes use now.
func (s *ServerTLS) Current() *tls.Config { return s.cur.Load().config }

// Certificate is the certificate in force; its Leaf is set.
func (s *ServerTLS) Certificate() *tls.Certificate { return s.cur.Load().cert }

// Reload reads the files again. When any of them does not load (missing,
// not matching, expired at now), the certificate and CA in force stay and
// the error says why, with its code. It returns the certificate in force
// before and after.
func (s *ServerTLS) Reload(now time.Time) (old, cur *x509.Certificate, err error) {
	s.reload.Lock()
	defer s.reload.Unlock()
	st, err := s.load(now)
	prev := s.cur.Load()
	if err != nil {
		return prev.cert.Leaf, prev.cert.Leaf, err
	}
	s.cur.Store(st)
	return prev.cert.Leaf, st.cert.Leaf, nil
}
