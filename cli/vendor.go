package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/whitelist"
)

func init() {
	register(&command{
		name:    "vendor serve",
		summary: "run the vendor's whitelist service (vendor)",
		help: `Usage: licensor vendor serve [--config FILE] [--listen ADDR] [--data DIR] [--vendor-key FILE] [--cert FILE] [--key FILE]
                             [--check-config]

Runs the vendor's whitelist service: HTTPS (TLS 1.2+, no client
certificates) on :9443 by default. A site server in upstream mode posts its
activation request to /v1/grant; when its machine code is approved
('licensor vendor approve') the answer is a license signed with the vendor
key, bound to that machine and server key, valid until the contract's end
plus the grace period. An unknown or revoked machine code is refused with
code 525, a contract past its grace with 526. SIGHUP reloads the TLS
certificate and key without dropping open connections (a file that does
not load keeps the one in force and logs its code); SIGTERM and SIGINT
stop it gracefully.

The configuration file is JSON; relative paths in it are relative to the
file. Every key, with its default:

  {
    "listen": ":9443",
    "tls": {"cert": "pki/server.crt", "key": "pki/server.key"},
    "vendor_key": "vendor.key",  signs the grants
    "data_dir": "data",          whitelist.db, the approvals
    "grace": "2160h"             how long grants run past the contract's end
  }

Unknown keys are refused with the key named; "//" outside a string starts
a comment that runs to the end of the line (examples/config/vendor.json is
a commented example). Flags override the file. --check-config validates
the configuration and exits: it parses, and the vendor key and the TLS
certificate with its key load; each is printed with what was found, a
failure with its code and fix, and the exit status is 1 when any failed.

The service logs to standard error (under systemd, the journal:
'journalctl -u licensor-vendor').`,
		setup: func(fs *flag.FlagSet) runFunc {
			config := fs.String("config", "", "the JSON configuration file")
			listen := fs.String("listen", "", "address to listen on (default :9443)")
			data := fs.String("data", "", "the data directory (whitelist.db)")
			vendorKey := fs.String("vendor-key", "", "the vendor's private key, which signs the grants")
			cert := fs.String("cert", "", "the service's certificate")
			key := fs.String("key", "", "the service's private key")
			checkOnly := fs.Bool("check-config", false, "validate the configuration and the files it names, then exit")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("vendor serve takes no arguments")
				}
				if *listen != "" {
					// A flag's value is the command line's: a bad one is
					// a usage mistake, not a configuration error.
					if _, _, err := net.SplitHostPort(*listen); err != nil {
						return codes.Errorf(codes.InvalidArgument, "--listen %q is not host:port (\":9443\" listens on every address)", *listen)
					}
				}
				cfg := whitelist.Default()
				if *config != "" {
					var err error
					if cfg, err = loadWhitelistConfig(*config); err != nil {
						return err
					}
				}
				override(&cfg.Listen, listen, &cfg.DataDir, data, &cfg.VendorKey, vendorKey, &cfg.TLS.Cert, cert, &cfg.TLS.Key, key)
				if *checkOnly {
					if err := cfg.Validate(); err != nil {
						return err
					}
					return e.checkConfig(configName(*config), whitelistChecks(cfg, e.Clock.Now()))
				}
				return e.serveWhitelist(ctx, cfg, nil)
			}
		},
	})
	register(&command{
		name:    "vendor approve",
		summary: "approve a machine code in the whitelist (vendor)",
		help: `Usage: licensor vendor approve MACHINECODE --data DIR --customer NAME --until DATE --product SPEC [--product SPEC…]

Approves a site's machine code (the first line of 'licensor fingerprint',
or machine_code in its activation request) until the contract's end DATE:
YYYY-MM-DD (the end of that day, UTC) or RFC 3339. The whitelist service
grants it licenses that run to DATE plus its grace period. Approving a code
again replaces its approval: a renewal, picked up by the site at its next
daily fetch. SPEC is what 'licensor issue' takes,

  SUBJECT:instances=N,qps=Q,not-before=DATE,functions=a|b

without not-after: every product runs to the contract's end. Run it beside
the service, on the same data directory.`,
		setup: func(fs *flag.FlagSet) runFunc {
			data := fs.String("data", "", "the whitelist service's data directory")
			customer := fs.String("customer", "", "the customer the grants are for")
			until := fs.String("until", "", "the contract's end: YYYY-MM-DD or RFC 3339")
			var products stringList
			fs.Var(&products, "product", "a product SPEC (repeatable)")
			return func(ctx context.Context, e *Env, args []string) error {
				switch {
				case len(args) != 1:
					return usageErrorf("vendor approve takes one MACHINECODE")
				case *data == "":
					return usageErrorf("vendor approve needs --data DIR")
				case *customer == "":
					return usageErrorf("vendor approve needs --customer NAME")
				case *until == "":
					return usageErrorf("vendor approve needs --until DATE")
				case len(products) == 0:
					return usageErrorf("vendor approve needs at least one --product SPEC")
				}
				return e.approve(*data, args[0], *customer, *until, products)
			}
		},
	})
	register(&command{
		name:    "vendor list",
		summary: "list the whitelist's approvals (vendor)",
		help: `Usage: licensor vendor list --data DIR [--json]

Lists every approved machine code: its customer, contract end, products
and, when revoked, since when.`,
		setup: func(fs *flag.FlagSet) runFunc {
			data := fs.String("data", "", "the whitelist service's data directory")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				switch {
				case len(args) > 0:
					return usageErrorf("vendor list takes no arguments")
				case *data == "":
					return usageErrorf("vendor list needs --data DIR")
				}
				st, err := openWhitelist(*data)
				if err != nil {
					return err
				}
				defer st.Close()
				all, err := st.List()
				if err != nil {
					return err
				}
				if *asJSON {
					if all == nil {
						all = []whitelist.Approval{}
					}
					return e.writeJSON(all)
				}
				tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "MACHINE CODE\tCUSTOMER\tUNTIL (UTC)\tPRODUCTS\tREVOKED (UTC)")
				for _, a := range all {
					revoked := "-"
					if a.Revoked != nil {
						revoked = license.FormatTime(*a.Revoked)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.MachineCode, a.Customer, license.FormatTime(a.Until), productList(a.Products), revoked)
				}
				return tw.Flush()
			}
		},
	})
	register(&command{
		name:    "vendor revoke",
		summary: "withdraw a machine code's approval (vendor)",
		help: `Usage: licensor vendor revoke MACHINECODE --data DIR

Withdraws a machine code's approval: the service refuses it (code 525) from
now on. The site keeps the grant it holds until that grant runs out;
'licensor vendor approve' approves the code again.`,
		setup: func(fs *flag.FlagSet) runFunc {
			data := fs.String("data", "", "the whitelist service's data directory")
			return func(ctx context.Context, e *Env, args []string) error {
				switch {
				case len(args) != 1:
					return usageErrorf("vendor revoke takes one MACHINECODE")
				case *data == "":
					return usageErrorf("vendor revoke needs --data DIR")
				}
				st, err := openWhitelist(*data)
				if err != nil {
					return err
				}
				defer st.Close()
				code := strings.ToLower(args[0])
				err = st.Revoke(code, e.Clock.Now())
				if errors.Is(err, whitelist.ErrNotFound) {
					return codes.Errorf(codes.NotWhitelisted, "machine code %s has no approval", code).
						WithFix("'licensor vendor list --data " + *data + "' lists the approved machine codes.")
				}
				if err != nil {
					return err
				}
				a, _, err := st.Get(code)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "revoked %s\n", a)
				return nil
			}
		},
	})
}

func loadWhitelistConfig(path string) (whitelist.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return whitelist.Config{}, codes.Errorf(codes.FileMissing, "cannot read the configuration: %w", err)
	}
	defer f.Close()
	cfg, err := whitelist.Parse(f, filepath.Dir(path))
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// serveWhitelist runs the whitelist service until ctx ends; ready, when
// set, is called once it listens.
func (e *Env) serveWhitelist(ctx context.Context, cfg whitelist.Config, ready func(addr string)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	srv, err := whitelist.NewServer(cfg, e.Clock, slog.New(slog.NewTextHandler(e.Stderr, nil)))
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return codes.Errorf(codes.ListenFailed, "cannot listen on %s: %w", cfg.Listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	onHangup(ctx, func() { srv.ReloadTLS() })
	if ready != nil {
		ready(ln.Addr().String())
	}
	return srv.Run(ctx, ln)
}

// openWhitelist opens an existing whitelist: list and revoke do not
// create one in a mistyped directory.
func openWhitelist(dir string) (*whitelist.Store, error) {
	path := filepath.Join(dir, whitelist.DBFile)
	if _, err := os.Stat(path); err != nil {
		return nil, codes.Errorf(codes.FileMissing, "no whitelist at %s: %w", path, err).
			WithFix("Give the data directory of the whitelist service; 'licensor vendor approve' creates the whitelist.")
	}
	return whitelist.Open(path)
}

func (e *Env) approve(data, code, customer, untilArg string, specs []string) error {
	code = strings.ToLower(code)
	if !fingerprint.ValidCode(code) {
		return codes.Errorf(codes.InvalidArgument, "%q is not a machine code: it is the 32 hex digits on the first line of 'licensor fingerprint'", code)
	}
	until, err := parseUntil(untilArg)
	if err != nil {
		return err
	}
	now := e.Clock.Now()
	if !until.After(now) {
		return codes.Errorf(codes.InvalidArgument, "--until %s is in the past (it is %s UTC now)", untilArg, license.FormatTime(now))
	}
	a := whitelist.Approval{MachineCode: code, Customer: customer, Until: until, Created: now.UTC()}
	for _, spec := range specs {
		p, err := license.ParseProductSpec(withNotAfter(spec, until), now)
		if err != nil {
			return err
		}
		a.Products = append(a.Products, p)
	}
	st, err := whitelist.Open(filepath.Join(data, whitelist.DBFile))
	if err != nil {
		return err
	}
	defer st.Close()
	old, renewed, err := st.Get(code)
	if err != nil {
		return err
	}
	if err := st.Approve(a); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "approved %s\n", a)
	if renewed {
		fmt.Fprintf(e.Stdout, "  replaces: %s\n", old)
	}
	for _, p := range a.Products {
		fmt.Fprintf(e.Stdout, "  %s: instances=%d qps=%d from %s UTC\n", p.Subject, p.InstanceSize, p.QPS, license.FormatTime(p.NotBefore))
	}
	fmt.Fprintln(e.Stdout, "grants run to the contract's end plus the service's grace period")
	return nil
}

// parseUntil reads a contract end: YYYY-MM-DD is the end of that day, UTC.
func parseUntil(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(24*time.Hour - time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, codes.Errorf(codes.InvalidArgument, "--until %q: want YYYY-MM-DD or RFC 3339 (2027-10-31T00:00:00Z)", s)
	}
	return t.UTC(), nil
}

// withNotAfter adds not-after=until to a spec that sets neither not-after
// nor days, as ParseProductSpec requires one: the product runs to the
// contract's end.
func withNotAfter(spec string, until time.Time) string {
	subject, rest, hasColon := strings.Cut(spec, ":")
	for _, kv := range strings.Split(rest, ",") {
		switch k, _, _ := strings.Cut(kv, "="); strings.TrimSpace(k) {
		case "not-after", "days":
			return spec
		}
	}
	extra := "not-after=" + until.Format(time.RFC3339)
	switch {
	case !hasColon:
		return subject + ":" + extra
	case strings.TrimSpace(rest) == "":
		return spec + extra
	}
	return spec + "," + extra
}

// productList is "ocr (10), asr (2)": each product and its instances.
func productList(ps []license.Product) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%s (%d)", p.Subject, p.InstanceSize)
	}
	return strings.Join(out, ", ")
}
