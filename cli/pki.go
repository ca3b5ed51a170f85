package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/readfile"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
)

func init() {
	register(&command{
		name:    "pki init",
		summary: "create the site CA and the server's TLS certificate",
		help: `Usage: licensor pki init --dir DIR [--hosts NAME,IP,…] [--json]

Creates the site's private CA for mutual TLS between the site server and
its clients: DIR/ca.crt (give it to the server and every client), DIR/ca.key
(mode 0600; keep it where certificates are issued), and the server's
DIR/server.crt and server.key, valid 2 years for the given host names and
IP addresses (default: this host's name), and always for localhost,
127.0.0.1 and ::1, so that the commands run on the server host itself
('licensor status', 'licensor doctor') reach it; it prints every name the
certificate covers. An existing CA is never overwritten; 'licensor pki server' reissues only
the server certificate. --json prints the paths with stable keys (ca_cert,
ca_key, server_cert, server_key, hosts).`,
		setup: func(fs *flag.FlagSet) runFunc {
			dir := fs.String("dir", "", "directory for the site CA (created if absent)")
			hosts := fs.String("hosts", "", "comma-separated DNS names and IP addresses the server certificate covers")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("pki init takes no arguments; use --dir DIR")
				}
				if *dir == "" {
					return usageErrorf("pki init needs --dir DIR")
				}
				site, err := pki.InitSite(*dir, e.serverHosts(*hosts), e.Clock.Now())
				if err != nil {
					return err
				}
				if *asJSON {
					return e.writeJSON(site)
				}
				fmt.Fprintf(e.Stdout, "site CA:            %s (give it to the server and every client)\n", site.CACert)
				fmt.Fprintf(e.Stdout, "CA key:             %s (keep it secret: it signs every certificate)\n", site.CAKey)
				printServer(e, site)
				fmt.Fprintf(e.Stdout, "\nNext: issue a client certificate for each product instance:\n  licensor pki client --dir %s --name app1 --role instance\n", *dir)
				return nil
			}
		},
	})
	register(&command{
		name:    "pki server",
		summary: "reissue the server's TLS certificate from the site CA",
		help: `Usage: licensor pki server --dir DIR [--hosts NAME,IP,…] [--json]

Issues a new server certificate from the site CA in DIR, valid 2 years for
the given host names and IP addresses (default: this host's name), and
always for localhost, 127.0.0.1 and ::1, and replaces DIR/server.crt and
server.key; it prints every name the certificate covers. Clients keep
working: they trust the CA, not the certificate. A running server presents
the new certificate after SIGHUP ('systemctl reload licensor'), without
dropping its connections. --json prints the paths with the keys of
'licensor pki init'.`,
		setup: func(fs *flag.FlagSet) runFunc {
			dir := fs.String("dir", "", "directory of the site CA")
			hosts := fs.String("hosts", "", "comma-separated DNS names and IP addresses the server certificate covers")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("pki server takes no arguments; use --dir DIR")
				}
				if *dir == "" {
					return usageErrorf("pki server needs --dir DIR")
				}
				site, err := pki.IssueServer(*dir, e.serverHosts(*hosts), e.Clock.Now())
				if err != nil {
					return err
				}
				if *asJSON {
					return e.writeJSON(site)
				}
				printServer(e, site)
				return nil
			}
		},
	})
	register(&command{
		name:    "pki client",
		summary: "issue a client's TLS certificate with its role",
		help: `Usage: licensor pki client --dir DIR --name NAME [--role instance|renew|admin] [--days N] [--json]

Issues a client certificate from the site CA in DIR: DIR/clients/NAME.crt
and NAME.key (mode 0600). Copy both, with ca.crt, to the client. The role
says what the client may ask the site server: instance (a product
instance: authorize, heartbeat, release), renew (a host that renews key
files) or admin (an operator). NAME is 1 to 64 letters, digits, '.', '_'
or '-'; an existing NAME is never overwritten. --json prints cert, key,
name, role and not_after.`,
		setup: func(fs *flag.FlagSet) runFunc {
			dir := fs.String("dir", "", "directory of the site CA")
			name := fs.String("name", "", "the client's name (its certificate's common name)")
			role := fs.String("role", string(pki.RoleInstance), "the client's role: instance, renew or admin")
			days := fs.Int("days", pki.DefaultClientDays, fmt.Sprintf("days the certificate is valid (1 to %d)", pki.MaxClientDays))
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("pki client takes no arguments; use --name NAME")
				}
				if *dir == "" {
					return usageErrorf("pki client needs --dir DIR")
				}
				if *name == "" {
					return usageErrorf("pki client needs --name NAME")
				}
				r, err := pki.ParseRole(*role)
				if err != nil {
					return usageErrorf("pki client: --role %q: want instance, renew or admin", *role)
				}
				c, err := pki.IssueClient(*dir, *name, r, *days, e.Clock.Now())
				if err != nil {
					return err
				}
				if *asJSON {
					return e.writeJSON(c)
				}
				fmt.Fprintf(e.Stdout, "client:      %s (role %s)\ncertificate: %s\nkey:         %s (keep it secret)\nvalid until: %s\n",
					c.Name, c.Role, c.Cert, c.Key, c.NotAfter.UTC().Format(time.RFC3339))
				return nil
			}
		},
	})
	register(&command{
		name:    "pki show",
		summary: "describe the certificates in PEM files",
		help: `Usage: licensor pki show FILE… [--json]

Prints every certificate in each PEM file: subject, issuer, serial, dates
and days left, DNS names, IP addresses, URIs, role and extended key usage.
--json prints a list of {file, certificates} with stable snake_case keys.`,
		setup: func(fs *flag.FlagSet) runFunc {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) == 0 {
					return usageErrorf("pki show needs a FILE")
				}
				now := e.Clock.Now()
				var out []certFile
				for _, path := range args {
					data, err := readfile.Limited(path, pki.MaxFileSize, "certificate file")
					if err != nil {
						return err
					}
					certs, err := pki.ParseCertificates(data)
					if err != nil {
						return codes.Errorf(codes.CertMalformed, "%s: %w", path, err)
					}
					f := certFile{File: path}
					for _, c := range certs {
						f.Certificates = append(f.Certificates, pki.Describe(c, now))
					}
					out = append(out, f)
				}
				if *asJSON {
					return e.writeJSON(out)
				}
				for i, f := range out {
					if i > 0 {
						fmt.Fprintln(e.Stdout)
					}
					printCertFile(e, f, now)
				}
				return nil
			}
		},
	})
}

// certFile is one file 'pki show' read; the JSON keys are stable.
type certFile struct {
	File         string         `json:"file"`
	Certificates []pki.CertInfo `json:"certificates"`
}

// serverHosts splits --hosts (this host's name when it is empty) and adds
// the loopback names: the operator's next commands run on the server host
// and dial localhost, which a certificate without it fails with code 60.
func (e *Env) serverHosts(flagValue string) []string {
	var hosts []string
	for _, h := range strings.Split(flagValue, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		name, err := e.Hostname()
		if err != nil {
			name = ""
		}
		return pki.LocalHosts(name)
	}
	for _, h := range pki.LocalHosts("") {
		if !slices.ContainsFunc(hosts, func(s string) bool { return strings.EqualFold(s, h) }) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func printServer(e *Env, site *pki.Site) {
	fmt.Fprintf(e.Stdout, "server cert:        %s\n", site.ServerCert)
	fmt.Fprintf(e.Stdout, "server key:         %s (mode 0600, for the site server only)\n", site.ServerKey)
	fmt.Fprintf(e.Stdout, "hosts:              %s\n", strings.Join(site.Hosts, ", "))
	fmt.Fprintf(e.Stdout, "                    (clients must dial one of these names; 'licensor pki server --hosts' reissues for others)\n")
}

func printCertFile(e *Env, f certFile, now time.Time) {
	w := e.Stdout
	fmt.Fprintf(w, "%s:\n", f.File)
	for i, c := range f.Certificates {
		if len(f.Certificates) > 1 {
			fmt.Fprintf(w, "certificate %d:\n", i+1)
		}
		state := license.DaysLeft(c.NotAfter.Sub(now)) + " left"
		switch {
		case now.After(c.NotAfter):
			state = "EXPIRED " + license.DaysLeft(now.Sub(c.NotAfter)) + " ago"
		case now.Before(c.NotBefore):
			state = "NOT YET VALID"
		}
		fmt.Fprintf(w, "  subject:   %s\n  issuer:    %s\n  serial:    %s\n", c.Subject, c.Issuer, c.Serial)
		fmt.Fprintf(w, "  valid:     %s to %s (%s)\n", c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), state)
		if c.IsCA {
			fmt.Fprintf(w, "  CA:        yes\n")
		}
		for _, l := range []struct {
			label  string
			values []string
		}{{"DNS names", c.DNSNames}, {"IPs", c.IPs}, {"URIs", c.URIs}, {"usage", c.EKU}} {
			if len(l.values) > 0 {
				fmt.Fprintf(w, "  %-10s %s\n", l.label+":", strings.Join(l.values, ", "))
			}
		}
		if c.Role != "" {
			fmt.Fprintf(w, "  role:      %s\n", c.Role)
		}
	}
}
