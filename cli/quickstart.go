package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/atomicfile"
	"github.com/licensor/licensor/internal/unwritable"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
)

// DefaultQuickstartProduct is the product a quickstart license carries.
const DefaultQuickstartProduct = "demo:instances=10,qps=0,days=30,functions=basic|export"

func init() {
	register(&command{
		name:    "quickstart",
		summary: "set up a local vendor and site on embedded defaults",
		help: `Usage: licensor quickstart [--dir DIR] [--holder NAME] [--product SPEC…] [--listen ADDR] [--setup-only] [--json]

Plays every part on this one host, on embedded defaults: creates a vendor
key, the site server's key and activation request for this machine, a
license for it (verified before going on), the site PKI (CA, server
certificate, an instance client certificate "app1" and an admin one), and
a server configuration; then serves in the foreground like a development
server, printing a curl command, a 'licensor check' command and a
'licensor status' command that work against it. The commands it prints
start with 'licensor' when that is the running binary, with the binary's
path otherwise, and with 'go run ./cmd/licensor' when it runs under 'go
run' (stop that one with Ctrl-C: a SIGTERM to the go command leaves the
server running). Files already in DIR (keys, CA, certificates) are kept;
the request, license and configuration are written anew.

--setup-only writes the files and exits; 'licensor serve --config
DIR/server.json' then starts the same server. --json prints the paths of
everything written, with stable keys: dir, vendor_private_key,
vendor_public_key, vendor_key_id, data_dir, server_private_key,
server_public_key, activation_request, license, machine_code, products,
server_config, ca, client_cert, client_key, admin_cert, admin_key, url.`,
		setup: func(fs *flag.FlagSet) runFunc {
			dir := fs.String("dir", "licensor-quickstart", "directory to set up in")
			holder := fs.String("holder", "Quickstart Site", "the license holder")
			var products stringList
			fs.Var(&products, "product", "a product SPEC (repeatable; default "+DefaultQuickstartProduct+")")
			listen := fs.String("listen", "127.0.0.1:8443", "the address the quickstart server listens on")
			setupOnly := fs.Bool("setup-only", false, "write the files and exit")
			asJSON := fs.Bool("json", false, "print the paths written as JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("quickstart takes no arguments")
				}
				if len(products) == 0 {
					products = stringList{DefaultQuickstartProduct}
				}
				q, err := e.quickstart(*dir, *holder, products, *listen)
				if err != nil {
					return err
				}
				if *asJSON {
					if err := e.writeJSON(q); err != nil {
						return err
					}
				} else {
					printQuickstart(e, q)
				}
				if *setupOnly {
					if !*asJSON {
						fmt.Fprintf(e.Stdout, "\nStart the server with:\n  %s serve --config %s\n", e.self(), shellWord(q.ServerConfig))
					}
					return nil
				}
				cfg, err := loadServerConfig(q.ServerConfig)
				if err != nil {
					return err
				}
				return e.serve(ctx, cfg, func(addr string) {
					if !*asJSON {
						printTryIt(e, q)
					}
				})
			}
		},
	})
}

// quickstartFiles is what quickstart wrote; the JSON keys are stable.
type quickstartFiles struct {
	Dir               string   `json:"dir"`
	VendorPrivateKey  string   `json:"vendor_private_key"`
	VendorPublicKey   string   `json:"vendor_public_key"`
	VendorKeyID       string   `json:"vendor_key_id"`
	DataDir           string   `json:"data_dir"`
	ServerPrivateKey  string   `json:"server_private_key"`
	ServerPublicKey   string   `json:"server_public_key"`
	ActivationRequest string   `json:"activation_request"`
	License           string   `json:"license"`
	MachineCode       string   `json:"machine_code"`
	Products          []string `json:"products"`
	ServerConfig      string   `json:"server_config"`
	CA                string   `json:"ca"`
	ClientCert        string   `json:"client_cert"`
	ClientKey         string   `json:"client_key"`
	AdminCert         string   `json:"admin_cert"`
	AdminKey          string   `json:"admin_key"`
	URL               string   `json:"url"`
}

func (e *Env) quickstart(dir, holder string, products []string, listen string) (*quickstartFiles, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, codes.Errorf(codes.InvalidArgument, "--dir %q: %v", dir, err)
	}
	q := &quickstartFiles{
		Dir:               abs,
		VendorPrivateKey:  filepath.Join(abs, "vendor", "vendor.key"),
		VendorPublicKey:   filepath.Join(abs, "vendor", "vendor.pub"),
		DataDir:           filepath.Join(abs, "data"),
		ActivationRequest: filepath.Join(abs, "request.json"),
		License:           filepath.Join(abs, "site.lic"),
	}
	q.ServerPrivateKey = filepath.Join(q.DataDir, serverKeyFile)
	q.ServerPublicKey = keys.PublicPath(q.ServerPrivateKey)

	// The vendor key: kept when present, so licenses already issued stay good.
	if _, err := os.Stat(q.VendorPrivateKey); err != nil {
		if _, err := generateKeys(filepath.Dir(q.VendorPrivateKey), "vendor"); err != nil {
			return nil, err
		}
	}
	vendorPub, err := keys.LoadPublic(q.VendorPublicKey)
	if err != nil {
		return nil, err
	}
	q.VendorKeyID = keys.ID(vendorPub)

	// The site: its key and activation request.
	req, _, err := e.activationRequest(q.DataDir)
	if err != nil {
		return nil, err
	}
	q.MachineCode = req.MachineCode
	b, _ := json.MarshalIndent(req, "", "  ")
	if err := atomicfile.WriteFile(q.ActivationRequest, append(b, '\n'), 0o644); err != nil {
		return nil, q.writeError(q.ActivationRequest, "activation request", err)
	}

	// The vendor issues; the site verifies.
	l, file, _, err := e.issue(issueOptions{
		key: q.VendorPrivateKey, requests: stringList{q.ActivationRequest}, holder: holder, issuer: "quickstart vendor",
		products: products, match: -1, out: q.License,
	})
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(q.License, file, 0o644); err != nil {
		return nil, q.writeError(q.License, "license", err)
	}
	q.Products = l.Subjects()
	if r := e.verifyLicense(q.License, vendorPub, true, ""); r.err != nil {
		return nil, fmt.Errorf("the quickstart license does not verify on this host: %w", r.err)
	}
	if err := e.quickstartSite(q, listen); err != nil {
		return nil, err
	}
	return q, nil
}

// writeError is the error for a file quickstart could not write in its
// directory.
func (q *quickstartFiles) writeError(path, noun string, err error) error {
	return unwritable.File{Path: path, Noun: noun, By: "'licensor quickstart'", Other: "give 'licensor quickstart' a --dir"}.Error(err)
}

// quickstartSite writes the site PKI, the client certificates and the
// server configuration.
func (e *Env) quickstartSite(q *quickstartFiles, listen string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return codes.Errorf(codes.InvalidArgument, "--listen %q is not HOST:PORT", listen)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	now := e.Clock.Now()
	pkiDir := filepath.Join(q.Dir, "pki")
	q.CA = filepath.Join(pkiDir, pki.CACertFile)
	if _, err := os.Stat(q.CA); err != nil {
		hosts := e.serverHosts("")
		if !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
		if _, err := pki.InitSite(pkiDir, hosts, now); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		name      string
		role      pki.Role
		cert, key *string
	}{{"app1", pki.RoleInstance, &q.ClientCert, &q.ClientKey}, {"admin", pki.RoleAdmin, &q.AdminCert, &q.AdminKey}} {
		*c.cert = filepath.Join(pkiDir, pki.ClientsDir, c.name+".crt")
		*c.key = filepath.Join(pkiDir, pki.ClientsDir, c.name+".key")
		if _, err := os.Stat(*c.cert); err == nil {
			continue
		}
		if _, err := pki.IssueClient(pkiDir, c.name, c.role, 0, now); err != nil {
			return err
		}
	}
	cfg := server.Default()
	cfg.Listen = listen
	cfg.License, cfg.VendorPublicKey, cfg.DataDir = "site.lic", filepath.Join("vendor", "vendor.pub"), "data"
	cfg.TLS = server.TLSConfig{CA: filepath.Join("pki", pki.CACertFile), Cert: filepath.Join("pki", pki.ServerCertFile), Key: filepath.Join("pki", pki.ServerKeyFile)}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	q.ServerConfig = filepath.Join(q.Dir, "server.json")
	if err := atomicfile.WriteFile(q.ServerConfig, append(b, '\n'), 0o644); err != nil {
		return q.writeError(q.ServerConfig, "server configuration", err)
	}
	q.URL = "https://" + net.JoinHostPort(host, port)
	return nil
}

func printTryIt(e *Env, q *quickstartFiles) {
	w, self, p := e.Stdout, e.self(), quotedPaths(q)
	fmt.Fprintf(w, "\nServing on %s (Ctrl-C stops it). In another terminal:\n\n", q.URL)
	fmt.Fprintf(w, "  curl --cacert %s --cert %s --key %s \\\n    -d '{\"product\":\"%s\",\"instance_id\":\"curl-1\"}' %s/v1/authorize\n\n",
		p.CA, p.ClientCert, p.ClientKey, q.Products[0], q.URL)
	fmt.Fprintf(w, "  %s check --server %s --ca %s --cert %s --key %s \\\n    --vendor-pub %s --product %s\n\n",
		self, q.URL, p.CA, p.ClientCert, p.ClientKey, p.VendorPublicKey, q.Products[0])
	fmt.Fprintf(w, "  %s status --server %s --ca %s --cert %s --key %s\n\n", self, q.URL, p.CA, p.AdminCert, p.AdminKey)
}

// quotedPaths is q with its paths quoted for a shell, for the commands
// quickstart prints.
func quotedPaths(q *quickstartFiles) quickstartFiles {
	p := *q
	for _, s := range []*string{&p.CA, &p.ClientCert, &p.ClientKey, &p.AdminCert, &p.AdminKey, &p.VendorPublicKey, &p.License, &p.ServerConfig} {
		*s = shellWord(*s)
	}
	return p
}

func printQuickstart(e *Env, q *quickstartFiles) {
	w, self, p := e.Stdout, e.self(), quotedPaths(q)
	fmt.Fprintf(w, "licensor quickstart in %s\n\n", q.Dir)
	fmt.Fprintf(w, "  vendor key        %s (id %s)\n", q.VendorPrivateKey, q.VendorKeyID)
	fmt.Fprintf(w, "  vendor public key %s\n", q.VendorPublicKey)
	fmt.Fprintf(w, "  site data         %s (server key %s)\n", q.DataDir, q.ServerPrivateKey)
	fmt.Fprintf(w, "  request           %s (machine %s)\n", q.ActivationRequest, q.MachineCode)
	fmt.Fprintf(w, "  license           %s (verified on this host)\n\n", q.License)
	fmt.Fprintf(w, "Next:\n")
	fmt.Fprintf(w, "  %s license show %s --vendor-pub %s\n", self, p.License, p.VendorPublicKey)
	fmt.Fprintf(w, "  %s license verify %s --vendor-pub %s --this-machine --product %s\n", self, p.License, p.VendorPublicKey, q.Products[0])
	fmt.Fprintf(w, "  %s explain --all\n", self)
}
