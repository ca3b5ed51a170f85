package cli

import (
	"crypto/ed25519"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/whitelist"
)

// configCheck is one file a configuration names, and what loading it
// found.
type configCheck struct {
	what, path string
	run        func() (string, error) // what it found, or why it does not load
}

// checkConfig runs the checks in order, printing each, and returns the
// first failure (already printed) or nil. Every check runs: an operator
// fixes all the files at once.
func (e *Env) checkConfig(config string, checks []configCheck) error {
	fmt.Fprintf(e.Stdout, "ok   %-18s %s\n", "configuration", config)
	var first error
	for _, c := range checks {
		found, err := c.run()
		if err != nil {
			ce := codes.As(err)
			fmt.Fprintf(e.Stdout, "FAIL %-18s %s\n     code=%d %s: %s\n", c.what, c.path, int(ce.Code), ce.Code.Name(), ce.Detail())
			if fix := ce.FixText(); fix != "" {
				fmt.Fprintf(e.Stdout, "     fix: %s\n", fix)
			}
			if first == nil {
				first = err
			}
			continue
		}
		line := fmt.Sprintf("ok   %-18s %s", c.what, c.path)
		if found != "" {
			line += " (" + found + ")"
		}
		fmt.Fprintln(e.Stdout, line)
	}
	if first != nil {
		return reported{first}
	}
	return nil
}

// serverChecks are the files a site server's configuration names, loaded
// as 'licensor serve' loads them at start. What depends on this host (the
// license's machine binding, the server key it trusts) is left to the
// start itself and to 'licensor doctor --license'.
func serverChecks(cfg server.Config, now time.Time) []configCheck {
	var vendorPub ed25519.PublicKey
	checks := []configCheck{
		{"vendor public key", cfg.VendorPublicKey, func() (string, error) {
			k, err := keys.LoadPublic(cfg.VendorPublicKey)
			if err != nil {
				return "", err
			}
			vendorPub = k
			return "key " + keys.ID(k), nil
		}},
		{"license", cfg.License, func() (string, error) {
			data, err := license.ReadFile(cfg.License)
			if err != nil {
				if len(cfg.Upstream) > 0 && codes.Of(err) == codes.FileMissing {
					return "none yet: upstream mode fetches it at start", nil
				}
				return "", err
			}
			signed, err := license.Parse(data)
			if err != nil {
				return "", err
			}
			if vendorPub == nil {
				return "parses; its signature is not checked without the vendor public key", nil
			}
			l, err := signed.Verify(vendorPub)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("license %s for %s, signature good", l.ID, l.Holder), nil
		}},
		{"server key", filepath.Join(cfg.DataDir, server.ServerKeyFile), func() (string, error) {
			path := filepath.Join(cfg.DataDir, server.ServerKeyFile)
			if _, err := os.Stat(path); err != nil {
				return "", codes.Errorf(codes.FileMissing, "the site server key %s does not exist", path).
					WithFix("Run 'licensor activation-request --data " + cfg.DataDir + "' (as the user the server runs as) to create it.")
			}
			k, err := keys.LoadPrivate(path)
			if err != nil {
				return "", err
			}
			return "key " + keys.ID(k.Public().(ed25519.PublicKey)), nil
		}},
		{"tls", cfg.TLS.Cert, func() (string, error) {
			t, err := pki.NewServerTLS(cfg.TLS.CA, cfg.TLS.Cert, cfg.TLS.Key, now)
			if err != nil {
				return "", err
			}
			leaf := t.Certificate().Leaf
			return fmt.Sprintf("certificate %s until %s, its key matches; client CA %s", describeNames(leaf.DNSNames, leaf.IPAddresses),
				leaf.NotAfter.UTC().Format(time.RFC3339), cfg.TLS.CA), nil
		}},
		{"store", storeName(cfg), func() (string, error) { return "", storeopen.Check(cfg.Store) }},
	}
	if cfg.UpstreamCA != "" {
		checks = append(checks, configCheck{"upstream CA", cfg.UpstreamCA, func() (string, error) {
			_, err := pki.LoadCertPool(cfg.UpstreamCA)
			return "", err
		}})
	}
	if cfg.LogFile != "" {
		checks = append(checks, configCheck{"log file", cfg.LogFile, func() (string, error) { return logFileCheck(cfg.LogFile) }})
	}
	return checks
}

// whitelistChecks are the files the vendor service's configuration names.
func whitelistChecks(cfg whitelist.Config, now time.Time) []configCheck {
	return []configCheck{
		{"vendor key", cfg.VendorKey, func() (string, error) {
			k, err := keys.LoadPrivate(cfg.VendorKey)
			if err != nil {
				return "", err
			}
			return "signs as key " + keys.ID(k.Public().(ed25519.PublicKey)), nil
		}},
		{"tls", cfg.TLS.Cert, func() (string, error) {
			t, err := pki.NewServerTLS("", cfg.TLS.Cert, cfg.TLS.Key, now)
			if err != nil {
				return "", err
			}
			leaf := t.Certificate().Leaf
			return fmt.Sprintf("certificate %s until %s, its key matches", describeNames(leaf.DNSNames, leaf.IPAddresses), leaf.NotAfter.UTC().Format(time.RFC3339)), nil
		}},
		{"data directory", cfg.DataDir, func() (string, error) {
			st, err := os.Stat(cfg.DataDir)
			switch {
			case os.IsNotExist(err):
				return "does not exist yet: the service creates it", nil
			case err != nil:
				return "", codes.Errorf(codes.FileMissing, "data_dir %s: %w", cfg.DataDir, err)
			case !st.IsDir():
				return "", codes.Errorf(codes.ConfigInvalid, "data_dir %s is not a directory", cfg.DataDir)
			}
			if _, err := os.Stat(filepath.Join(cfg.DataDir, whitelist.DBFile)); err != nil {
				return "no whitelist yet: 'licensor vendor approve' creates it", nil
			}
			return whitelist.DBFile + " present", nil
		}},
	}
}

// configName is how the check names the configuration.
func configName(path string) string {
	if path == "" {
		return "(none: the defaults and the flags)"
	}
	return path
}

func storeName(cfg server.Config) string {
	if cfg.Store == "" {
		return filepath.Join(cfg.DataDir, server.StoreFile)
	}
	return storeopen.Redact(cfg.Store)
}

// logFileCheck checks that the log file's directory exists; the file is
// created at start.
func logFileCheck(path string) (string, error) {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return "", codes.Errorf(codes.FileUnwritable, "log_file %s: its directory %s does not exist", path, dir).
			WithFix("Create the directory, writable by the user the server runs as (under systemd, LogsDirectory=licensor makes /var/log/licensor), or leave log_file out to log to the journal.")
	}
	if _, err := os.Stat(path); err != nil {
		return "created at start", nil
	}
	return "", nil
}

// describeNames is "for NAME, IP, …": whom a certificate may be dialled as.
func describeNames(dns []string, ips []net.IP) string {
	names := append([]string{}, dns...)
	for _, ip := range ips {
		names = append(names, ip.String())
	}
	return "for " + strings.Join(names, ", ")
}
