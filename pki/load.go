package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/readfile"
)

// MaxFileSize bounds what is read from a certificate, key or CA file.
const MaxFileSize = 1 << 20

// ParseCertificates decodes every CERTIFICATE block of a PEM file, in
// order. Text around the blocks is ignored, as OpenSSL writes it; other
// blocks are skipped. A file with no certificate, or with one that does
// not decode, is an error.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%d bytes, more than a certificate file can be (%d)", len(data), MaxFileSize)
	}
	var certs []*x509.Certificate
	var others []string
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemCertificate {
			others = append(others, block.Type)
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not decode: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		if len(others) > 0 {
			return nil, fmt.Errorf("no PEM certificate, only %q blocks", others)
		}
		return nil, errors.New("no PEM certificate (no -----BEGIN CERTIFICATE----- line)")
	}
	return certs, nil
}

// ParsePrivateKey decodes a PEM private key: PKCS #8 "PRIVATE KEY", as
// licensor writes, or SEC 1 "EC PRIVATE KEY", as OpenSSL may.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%d bytes, more than a key file can be (%d)", len(data), MaxFileSize)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM key file (no -----BEGIN line)")
	}
	var k any
	var err error
	switch block.Type {
	case pemPrivateKey:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, pemPrivateKey)
	}
	if err != nil {
		return nil, fmt.Errorf("private key does not decode: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the private key is %T, which cannot sign", k)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// readLimited reads a file, reporting failures with code.
func readLimited(path, what string, code codes.Code, fix string) ([]byte, error) {
	data, err := readfile.Limited(path, MaxFileSize, what)
	if err != nil {
		e := codes.As(err)
		return nil, &codes.Error{Code: code, Msg: e.Msg, Fix: fix, Err: e.Err}
	}
	return data, nil
}

// readCertificates reads and decodes a PEM certificate file, reporting
// failures with code.
func readCertificates(path, what string, code codes.Code, fix string) ([]*x509.Certificate, error) {
	data, err := readLimited(path, what, code, fix)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, codes.Errorf(code, "%s %s: %w", what, path, err).WithFix(fix)
	}
	return certs, nil
}

// LoadCertPool reads a CA bundle: the site's ca.crt. Failures are
// codes.CAFile.
func LoadCertPool(caFile string) (*x509.CertPool, error) {
	fix := fmt.Sprintf("Point at the site CA certificate (%s, written by 'licensor pki init'); it must be readable and hold PEM certificates.", CACertFile)
	certs, err := readCertificates(caFile, "CA file", codes.CAFile, fix)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// pairKind is what distinguishes a client's certificate from a server's
// when they are loaded.
type pairKind struct {
	what  string // "client certificate"
	code  codes.Code
	usage x509.ExtKeyUsage
	issue string // the command that issues a new one
}

var (
	clientPair = pairKind{"client certificate", codes.ClientCert, x509.ExtKeyUsageClientAuth, "licensor pki client --dir SITE_DIR --name NAME"}
	serverPair = pairKind{"server certificate", codes.ServerCert, x509.ExtKeyUsageServerAuth, "licensor pki server --dir SITE_DIR"}
)

// LoadClientCertificate reads a client's certificate and key and checks
// that they match, that the certificate is valid at now and that it is
// meant for client authentication. Failures are codes.ClientCert.
func LoadClientCertificate(certFile, keyFile string, now time.Time) (tls.Certificate, error) {
	return loadPair(certFile, keyFile, now, clientPair)
}

// LoadServerCertificate is LoadClientCertificate for the server's own
// certificate. Failures are codes.ServerCert.
func LoadServerCertificate(certFile, keyFile string, now time.Time) (tls.Certificate, error) {
	return loadPair(certFile, keyFile, now, serverPair)
}

func loadPair(certFile, keyFile string, now time.Time, k pairKind) (tls.Certificate, error) {
	reissue := fmt.Sprintf("Issue a new one with '%s' and use its certificate and key together.", k.issue)
	certs, err := readCertificates(certFile, k.what, k.code, "Check the path and permissions of the certificate file. "+reissue)
	if err != nil {
		return tls.Certificate{}, err
	}
	data, err := readLimited(keyFile, "private key of the "+k.what, k.code, "Check the path and permissions of the key file. "+reissue)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ParsePrivateKey(data)
	if err != nil {
		return tls.Certificate{}, codes.Errorf(k.code, "key file %s: %w", keyFile, err).WithFix("Point at the key file written beside the certificate. " + reissue)
	}
	leaf := certs[0]
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return tls.Certificate{}, codes.Errorf(k.code, "%s is not the key of the %s %s (%q)", keyFile, k.what, certFile, leaf.Subject.CommonName).
			WithFix("Point at the key file written beside the certificate (same name, .key). " + reissue)
	}
	switch {
	case now.After(leaf.NotAfter):
		return tls.Certificate{}, codes.Errorf(k.code, "the %s %s (%q) expired on %s", k.what, certFile, leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339)).WithFix(reissue)
	case now.Before(leaf.NotBefore):
		return tls.Certificate{}, codes.Errorf(k.code, "the %s %s (%q) is not valid until %s", k.what, certFile, leaf.Subject.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339)).
			WithFix("Check this host's clock; if it is right, wait or " + reissue)
	}
	if !slices.Contains(leaf.ExtKeyUsage, k.usage) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return tls.Certificate{}, codes.Errorf(k.code, "%s (%q) is not a %s: its extended key usage lacks %s", certFile, leaf.Subject.CommonName, k.what, ekuName(k.usage)).WithFix(reissue)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range certs {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

// ServerTLSConfig is the site server's TLS configuration: its own
// certificate, and client certificates required and verified against the
// site CA in caFile.
func ServerTLSConfig(caFile, certFile, keyFile string, now time.Time) (*tls.Config, error) {
	pool, err := LoadCertPool(caFile)
	if err != nil {
		return nil, err
	}
	pair, err := LoadServerCertificate(certFile, keyFile, now)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		Certificates: []tls.Certificate{pair},
	}, nil
}

// ClientTLSConfig is a client's TLS configuration: the server verified
// against the site CA in caFile, and the client's own certificate.
func ClientTLSConfig(caFile, certFile, keyFile string, now time.Time) (*tls.Config, error) {
	pool, err := LoadCertPool(caFile)
	if err != nil {
		return nil, err
	}
	pair, err := LoadClientCertificate(certFile, keyFile, now)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      pool,
		Certificates: []tls.Certificate{pair},
	}, nil
}
