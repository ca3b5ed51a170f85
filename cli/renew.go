package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/atomicfile"
	"github.com/licensor/licensor/internal/transport"
	"github.com/licensor/licensor/internal/unwritable"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

func init() {
	register(&command{
		name:    "renew",
		summary: "fetch this host's key file from a site server (for cron)",
		help: `Usage: licensor renew KEYFILE URL [URL…] --ca FILE --cert FILE --key FILE [--vendor-pub FILE] [--product P…]

For products that must never touch the network when they start: fetches
this host's key file (bound to its machine code, valid 7 days by default)
from the first site server that answers, and writes it to KEYFILE
atomically — the old file stays intact on any failure. Each attempt is
logged on standard error. Exits 1 when every server fails: with the
servers' code and its fix when they all gave the same one (every server
refuses this host, say), else (different codes, or no server reached) with
2012; or when the key file cannot be written (disk full, quota,
permissions), with 609 naming the path, the cause and the fix.
Needs a client certificate with the renew role ('licensor pki client
--role renew'). With --vendor-pub the key file is verified before it is
written.

Run it daily, from cron:

  0 6 * * * licensor renew /var/lib/product/licensor.key https://a:8443 https://b:8443 --ca … --cert … --key …

or with the systemd units in dist/systemd (licensor-renew.service and
licensor-renew.timer).`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o clientFlags
			o.register(fs)
			vendorPub := fs.String("vendor-pub", "", "verify the key file with the vendor's public key before writing it")
			var products stringList
			fs.Var(&products, "product", "limit the key file to this product (repeatable; default: every licensed product)")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) < 2 {
					return usageErrorf("renew needs KEYFILE and at least one URL")
				}
				path, urls := args[0], args[1:]
				fp, err := e.Fingerprint()
				if err != nil {
					return codes.Errorf(codes.Unknown, "cannot compute this host's machine code: %w", err)
				}
				req := api.KeyFileRequest{MachineCode: fp.Code, Components: fp.Hashes(), Products: products}
				var errs []error
				for _, u := range urls {
					o.server = u
					c, err := o.client(e)
					if err != nil {
						return err
					}
					var body api.KeyFileBody
					err = c.call(ctx, "POST", api.PathKeyFile, req, &body)
					if err == nil {
						err = checkKeyFile(e, []byte(body.KeyFile), *vendorPub)
					}
					if err != nil {
						ce := codes.As(err)
						fmt.Fprintf(e.Stderr, "renew: %s: code=%d %s: %s\n", u, int(ce.Code), ce.Code.Name(), transport.Reason(u, err))
						errs = append(errs, err)
						continue
					}
					if err := atomicfile.WriteFile(path, []byte(body.KeyFile), 0o644); err != nil {
						return keyFileWriteError(path, err)
					}
					fmt.Fprintf(e.Stderr, "renew: %s: ok, %s valid until %s UTC for %s\n", u, path, license.FormatTime(body.Expires), strings.Join(body.Products, ", "))
					if len(body.Refused) > 0 {
						fmt.Fprintf(e.Stderr, "renew: %s: the pools of %s are full: this host may not run them\n", u, strings.Join(body.Refused, ", "))
					}
					return nil
				}
				if len(urls) == 1 {
					return errs[0]
				}
				return everyServerFailed(urls, errs)
			}
		},
	})
}

// everyServerFailed is renew's error when no server gave a key file; errs
// holds each URL's failure, in order. When every server failed with one
// and the same code (all refuse this host, all pools are full), that code
// and its fix say what to do. When the codes differ, or the servers could
// not be reached (transport failures, unexpected errors), it is
// all_servers_down. The message lists each URL's reason either way.
func everyServerFailed(urls []string, errs []error) error {
	first := codes.As(errs[0])
	same := true
	reasons := make([]string, len(errs))
	for i, err := range errs {
		ce := codes.As(err)
		same = same && ce.Code == first.Code
		reasons[i] = urls[i] + ": " + transport.Reason(urls[i], err)
	}
	msg := "every server failed: " + strings.Join(reasons, "; ")
	if c := first.Code; !same || c == codes.Unknown || (c > 0 && c < 100) {
		return &codes.Error{Code: codes.AllServersDown, Msg: msg, Err: errors.Join(errs...)}
	}
	return &codes.Error{Code: first.Code, Msg: msg, Fix: first.FixText(), Err: errors.Join(errs...)}
}

// keyFileWriteError says why the key file fetched could not be written and
// what to do. Another server would not help, so renew stops there.
func keyFileWriteError(path string, err error) error {
	return unwritable.File{Path: path, Noun: "key file", By: "renew", Job: "the renew job",
		Then: fmt.Sprintf("then run 'licensor renew' again. Any key file already at %s was left as it was: the product keeps running on it until it expires.", path),
	}.Error(err)
}

// checkKeyFile makes sure what a server sent is a key file (and, given
// the vendor key, one that verifies on this host) before it replaces the
// one on disk.
func checkKeyFile(e *Env, data []byte, vendorPubFile string) error {
	signed, err := keyfile.Parse(data)
	if err != nil {
		return err
	}
	if vendorPubFile == "" {
		return nil
	}
	vendor, err := keys.LoadPublic(vendorPubFile)
	if err != nil {
		return err
	}
	host, err := e.Fingerprint()
	if err != nil {
		return err
	}
	_, err = signed.Verify(vendor, host, "", e.Clock.Now())
	return err
}
