package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/store"
)

func init() {
	register(&command{
		name:    "revoke",
		summary: "end a seat on a site server (an instance's, or a key-file host's renewals)",
		help: `Usage: licensor revoke --server URL --ca FILE --cert FILE --key FILE --product P (--instance ID | --keyfile-host MACHINECODE)
                       [--reason TEXT] [--json]

Revokes one seat of a product's pool, whoever holds it. Needs a client
certificate with the admin role. --reason (at most 512 bytes, one line) is
kept in the revoke's audit event, beside the admin certificate's name.

An instance's seat (--instance, the id 'licensor status' lists) is freed
at once; if the instance is still running, its SDK registers again and
takes a seat when one is free.

A key-file host's seat (--keyfile-host, its machine code) cannot be freed
early: the key file it holds works offline until it expires, and cannot
be recalled. The revoke stops its renewals (its next 'licensor renew' is
refused with code 529 keyfile_revoked) and its seat stays counted until
the key file expires; the answer says when. Once it has expired, the host
may take a seat again: to keep a host out for good, leave it out of the
license's key-file hosts or stop issuing it a renew certificate.`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o clientFlags
			o.register(fs)
			product := fs.String("product", "", "the product whose seat to revoke")
			instance := fs.String("instance", "", "the instance id whose seat to revoke")
			host := fs.String("keyfile-host", "", "the machine code of the key-file host whose seat to revoke")
			reason := fs.String("reason", "", "why, for the audit log")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				switch {
				case len(args) > 0:
					return usageErrorf("revoke takes no arguments")
				case strings.ContainsAny(*reason, "\r\n"):
					return usageErrorf("revoke: --reason is one line")
				case *product == "":
					return usageErrorf("revoke needs --product")
				case (*instance == "") == (*host == ""):
					return usageErrorf("revoke needs one of --instance and --keyfile-host")
				case *host != "" && !fingerprint.ValidCode(*host):
					return codes.Errorf(codes.InvalidArgument, "--keyfile-host %q is not a 32-hex machine code", *host)
				}
				id := *instance
				if *host != "" {
					id = store.KeyFileSeat(*host)
				}
				c, err := o.client(e)
				if err != nil {
					return err
				}
				var body server.RevokeBody
				if err := c.call(ctx, "POST", api.PathRevoke, server.RevokeRequest{Product: *product, InstanceID: id, Reason: strings.TrimSpace(*reason)}, &body); err != nil {
					return err
				}
				if *asJSON {
					return e.writeJSON(body)
				}
				fmt.Fprintf(e.Stdout, "revoked %s of %s (held by %s): %s\n", strings.TrimPrefix(id, store.KeyFileSeatPrefix), *product, body.Holder, body.Message)
				return nil
			}
		},
	})
}
