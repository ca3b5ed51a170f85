package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/atomicfile"
	"github.com/licensor/licensor/internal/unwritable"
)

// The files of a site directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
	ClientsDir     = "clients"
)

// Validity periods. Certificates start an hour before they are made, so
// that a peer whose clock is a little behind accepts them.
const (
	CAValidity     = 10 * 365 * 24 * time.Hour
	ServerValidity = 2 * 365 * 24 * time.Hour
	// DefaultClientDays and MaxClientDays bound a client certificate's life.
	DefaultClientDays = 365
	MaxClientDays     = 3650
	clockSkew         = time.Hour
)

const (
	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY"
)

// Site is the paths of a site's CA and server files.
type Site struct {
	CACert     string   `json:"ca_cert"`
	CAKey      string   `json:"ca_key"`
	ServerCert string   `json:"server_cert"`
	ServerKey  string   `json:"server_key"`
	Hosts      []string `json:"hosts"`
}

// Client is a client certificate just issued.
type Client struct {
	Cert     string    `json:"cert"`
	Key      string    `json:"key"`
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	NotAfter time.Time `json:"not_after"`
}

func siteFiles(dir string, hosts []string) *Site {
	return &Site{
		CACert: filepath.Join(dir, CACertFile), CAKey: filepath.Join(dir, CAKeyFile),
		ServerCert: filepath.Join(dir, ServerCertFile), ServerKey: filepath.Join(dir, ServerKeyFile),
		Hosts: hosts,
	}
}

// DefaultHosts is what the server certificate covers when no hosts are
// given: this host's name, localhost and the loopback addresses.
func DefaultHosts() []string {
	name, _ := os.Hostname()
	return LocalHosts(name)
}

// LocalHosts returns hostname (left out when empty or not a valid DNS
// name), "localhost", "127.0.0.1" and "::1", without duplicates.
func LocalHosts(hostname string) []string {
	var out []string
	if hostname != "" && validDNSName(hostname) == nil {
		out = append(out, hostname)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if !strings.EqualFold(h, hostname) {
			out = append(out, h)
		}
	}
	return out
}

// InitSite creates a site CA in dir and a server certificate for hosts
// (DefaultHosts when empty) signed by it. It refuses to overwrite an
// existing CA (codes.FileExists).
func InitSite(dir string, hosts []string, now time.Time) (*Site, error) {
	hosts, err := checkHosts(hosts)
	if err != nil {
		return nil, err
	}
	site := siteFiles(dir, hosts)
	for _, p := range []string{site.CAKey, site.CACert} {
		if _, err := os.Lstat(p); err == nil {
			return nil, codes.Errorf(codes.FileExists, "%s exists: %s already holds a site CA", p, dir).
				WithFix(fmt.Sprintf("Use another directory, or 'licensor pki server --dir %s' to reissue only the server certificate from the existing CA.", dir))
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, unwritable.File{Path: dir, Noun: "site CA directory", Dir: true}.Error(err)
	}

	caKey, err := newKey()
	if err != nil {
		return nil, err
	}
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return nil, codes.Errorf(codes.Unknown, "cannot read random bytes: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "licensor site CA " + hex.EncodeToString(id)},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, codes.Errorf(codes.Unknown, "cannot make the CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, codes.Errorf(codes.Unknown, "cannot parse the new CA certificate: %w", err)
	}
	serverDER, serverKey, err := serverCertificate(ca, caKey, hosts, now)
	if err != nil {
		return nil, err
	}

	// The key first and the certificate last: a directory with ca.crt holds
	// a complete CA. A failure removes what this call wrote.
	if err := writeKey(site.CAKey, caKey, createNew); err != nil {
		return nil, err
	}
	if err := writeCert(site.CACert, caDER, createNew); err != nil {
		os.Remove(site.CAKey)
		return nil, err
	}
	if err := writeServer(site, serverDER, serverKey); err != nil {
		os.Remove(site.CACert)
		os.Remove(site.CAKey)
		return nil, err
	}
	return site, nil
}

// IssueServer reissues the server certificate of the site in dir for hosts
// (DefaultHosts when empty), replacing server.crt and server.key. Each file
// is replaced atomically; a server that reads them between the two
// replacements sees a key that does not match and fails with
// codes.ServerCert, and succeeds when it reads them again.
func IssueServer(dir string, hosts []string, now time.Time) (*Site, error) {
	hosts, err := checkHosts(hosts)
	if err != nil {
		return nil, err
	}
	ca, caKey, err := LoadCA(dir)
	if err != nil {
		return nil, err
	}
	der, key, err := serverCertificate(ca, caKey, hosts, now)
	if err != nil {
		return nil, err
	}
	site := siteFiles(dir, hosts)
	if err := writeServer(site, der, key); err != nil {
		return nil, err
	}
	return site, nil
}

func writeServer(site *Site, der []byte, key crypto.Signer) error {
	if err := writeKey(site.ServerKey, key, replaceOld); err != nil {
		return err
	}
	return writeCert(site.ServerCert, der, replaceOld)
}

func serverCertificate(ca *x509.Certificate, caKey crypto.Signer, hosts []string, now time.Time) ([]byte, crypto.Signer, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "licensor site server"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return leaf(ca, caKey, tmpl, now, now.Add(ServerValidity))
}

// leaf completes tmpl as an end-entity certificate and signs it with the
// CA. It never outlives the CA.
func leaf(ca *x509.Certificate, caKey crypto.Signer, tmpl *x509.Certificate, now, notAfter time.Time) ([]byte, crypto.Signer, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = notAfter
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, codes.Errorf(codes.Unknown, "cannot sign the certificate: %w", err)
	}
	return der, key, nil
}

var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// IssueClient issues a client certificate named name with role, valid for
// days days (DefaultClientDays when 0), signed by the CA in dir. It writes
// dir/clients/NAME.crt and NAME.key and refuses to overwrite them
// (codes.FileExists).
func IssueClient(dir, name string, role Role, days int, now time.Time) (*Client, error) {
	if len(name) > 64 || !clientName.MatchString(name) {
		return nil, codes.Errorf(codes.InvalidArgument, "client name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	if _, err := ParseRole(string(role)); err != nil {
		return nil, err
	}
	if days == 0 {
		days = DefaultClientDays
	}
	if days < 1 || days > MaxClientDays {
		return nil, codes.Errorf(codes.InvalidArgument, "days %d: want 1 to %d", days, MaxClientDays)
	}
	ca, caKey, err := LoadCA(dir)
	if err != nil {
		return nil, err
	}
	c := &Client{
		Cert: filepath.Join(dir, ClientsDir, name+".crt"),
		Key:  filepath.Join(dir, ClientsDir, name+".key"),
		Name: name, Role: role,
	}
	for _, p := range []string{c.Cert, c.Key} {
		if _, err := os.Lstat(p); err == nil {
			return nil, codes.Errorf(codes.FileExists, "%s exists: a client named %q was issued before", p, name).
				WithFix("Choose another --name, or move the old certificate and key away if you mean to replace them.")
		}
	}
	if err := os.MkdirAll(filepath.Dir(c.Cert), 0o700); err != nil {
		return nil, unwritable.File{Path: filepath.Dir(c.Cert), Noun: "clients directory", Dir: true}.Error(err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{role.URI()},
	}
	der, key, err := leaf(ca, caKey, tmpl, now, now.AddDate(0, 0, days))
	if err != nil {
		return nil, err
	}
	c.NotAfter = tmpl.NotAfter
	if err := writeKey(c.Key, key, createNew); err != nil {
		return nil, err
	}
	if err := writeCert(c.Cert, der, createNew); err != nil {
		os.Remove(c.Key)
		return nil, err
	}
	return c, nil
}

// LoadCA reads the CA certificate and key of the site in dir.
func LoadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	fix := fmt.Sprintf("Point --dir at the directory 'licensor pki init' wrote (it holds %s and %s), or create a site CA with 'licensor pki init --dir %s'.", CACertFile, CAKeyFile, dir)
	certs, err := readCertificates(certPath, "site CA certificate", codes.CAFile, fix)
	if err != nil {
		return nil, nil, err
	}
	ca := certs[0]
	if !ca.IsCA {
		return nil, nil, codes.Errorf(codes.CAFile, "%s is not a CA certificate", certPath).WithFix(fix)
	}
	data, err := readLimited(keyPath, "site CA key", codes.FileMissing, fix)
	if err != nil {
		return nil, nil, err
	}
	key, err := ParsePrivateKey(data)
	if err != nil {
		return nil, nil, codes.Errorf(codes.KeyMalformed, "%s: %w", keyPath, err).WithFix(fix)
	}
	if !publicKeysEqual(ca.PublicKey, key.Public()) {
		return nil, nil, codes.Errorf(codes.KeyMalformed, "%s is not the key of %s", keyPath, certPath).WithFix(fix)
	}
	return ca, key, nil
}

// checkHosts validates the server certificate's names, defaulting to
// DefaultHosts and dropping duplicates.
func checkHosts(hosts []string) ([]string, error) {
	if len(hosts) == 0 {
		hosts = DefaultHosts()
	}
	var out []string
	seen := map[string]bool{}
	for _, h := range hosts {
		if net.ParseIP(h) == nil {
			if err := validDNSName(h); err != nil {
				return nil, codes.Errorf(codes.InvalidArgument, "host %q: %v; want a DNS name (or *.name) or an IP address", h, err)
			}
		}
		if k := strings.ToLower(h); !seen[k] {
			seen[k] = true
			out = append(out, h)
		}
	}
	return out, nil
}

var dnsLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// validDNSName checks the syntax of a DNS name a certificate may carry:
// labels of letters, digits and inner hyphens, or "*" as the first label
// of a name with at least two more.
func validDNSName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if len(name) > 253 {
		return fmt.Errorf("%d characters, more than 253", len(name))
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if l == "*" && i == 0 {
			if len(labels) < 3 {
				return errors.New("a wildcard needs at least two labels after it")
			}
			continue
		}
		if !dnsLabel.MatchString(l) {
			if l == "" {
				return errors.New("empty label")
			}
			return fmt.Errorf("label %q is not letters, digits and inner hyphens of at most 63 characters", l)
		}
	}
	return nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, codes.Errorf(codes.Unknown, "cannot generate a P-256 key: %w", err)
	}
	return k, nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, codes.Errorf(codes.Unknown, "cannot read random bytes: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil // positive, never zero
}

// writeMode says whether a file written may replace an old one.
type writeMode bool

const (
	createNew  writeMode = false // codes.FileExists when the file exists
	replaceOld writeMode = true
)

func writeKey(path string, key crypto.Signer, mode writeMode) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return codes.Errorf(codes.Unknown, "cannot encode the key: %w", err)
	}
	return writeFile(path, "private key", pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), 0o600, mode)
}

func writeCert(path string, der []byte, mode writeMode) error {
	return writeFile(path, "certificate", pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der}), 0o644, mode)
}

// writeFile writes data to path atomically; noun names the file in the
// error.
func writeFile(path, noun string, data []byte, perm fs.FileMode, mode writeMode) error {
	write := atomicfile.WriteNew
	if mode == replaceOld {
		write = atomicfile.WriteFile
	}
	err := write(path, data, perm)
	switch {
	case errors.Is(err, atomicfile.ErrExists):
		return codes.Errorf(codes.FileExists, "%s exists; licensor does not overwrite it", path)
	case err != nil:
		return unwritable.File{Path: path, Noun: noun, New: mode == createNew}.Error(err)
	}
	return nil
}
