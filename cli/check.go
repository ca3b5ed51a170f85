package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/sdk"
)

func init() {
	register(&command{
		name:    "check",
		summary: "authorize once through the SDK and print the verdict",
		help: `Usage: licensor check --server URL[,URL…] --ca FILE --cert FILE --key FILE --vendor-pub FILE --product NAME
                      [--instance ID] [--async] [--timeout 5s] [--json]

The operator's test client: one authorization through the SDK, exactly as
a protected product makes it, with the whole chain of trust checked
(vendor key → license → server key → verdict). Prints the verdict, or the
code, its name, the reason and the fix: a server that cannot be reached
says why (1 plain HTTP, 6 name, 7 connection, 28 timeout, 35 handshake,
58 our certificate, 60 the server's certificate, 77 CA file). The seat it
takes is released before it exits. Exit status 0 only when authorized.

A product licensed with QPS control answers 504 in sync mode; --async
checks it the way an async product asks.`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o clientFlags
			o.register(fs)
			vendorPub := fs.String("vendor-pub", "", "the vendor's public key file")
			product := fs.String("product", "", "the product to authorize")
			instance := fs.String("instance", "", "the instance id to use (default: licensor-check-HOSTNAME)")
			async := fs.Bool("async", false, "register as an async instance")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("check takes no arguments")
				}
				for _, f := range []struct{ name, v string }{{"--server", o.server}, {"--ca", o.ca}, {"--cert", o.cert}, {"--key", o.key}, {"--vendor-pub", *vendorPub}, {"--product", *product}} {
					if f.v == "" {
						return usageErrorf("check needs %s", f.name)
					}
				}
				id := *instance
				if id == "" {
					host, _ := e.Hostname()
					id = "licensor-check-" + host
				}
				var servers []string
				for _, s := range strings.Split(o.server, ",") {
					if s = strings.TrimSpace(s); s != "" {
						servers = append(servers, s)
					}
				}
				c, err := sdk.New(sdk.Config{Servers: servers, CAFile: o.ca, CertFile: o.cert, KeyFile: o.key, VendorKeyFile: *vendorPub,
					Product: *product, InstanceID: id, Async: *async, ReadTimeout: o.timeout, Clock: e.Clock, Logger: discardLogger()})
				if err != nil {
					return err
				}
				actx, cancel := context.WithTimeout(ctx, o.timeout*time.Duration(len(servers)+1))
				err = c.Authorize(actx)
				cancel()
				st := c.Status()
				closeErr := c.Close()
				if *asJSON {
					out := map[string]any{"authorized": err == nil, "code": int(codes.Of(err)), "name": codes.Of(err).Name(), "status": st}
					if err != nil {
						out["error"] = errorObject(err)
					}
					return e.writeOutcome(out, err)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "code=0 ok: %s may run as instance %s\n", st.Product, st.InstanceID)
				fmt.Fprintf(e.Stdout, "  server:    %s\n  license:   %s for %s, product until %s UTC\n", st.Server, st.LicenseID, st.Holder, license.FormatTime(st.NotAfter))
				fmt.Fprintf(e.Stdout, "  seat:      %d of %d held (lease until %s UTC; released on exit)\n", st.Held, st.Limit, license.FormatTime(st.Lease))
				if len(st.Functions) > 0 {
					fmt.Fprintf(e.Stdout, "  functions: %s\n", strings.Join(st.Functions, ", "))
				}
				if st.QPSShare > 0 {
					fmt.Fprintf(e.Stdout, "  qps share: %.1f/s\n", st.QPSShare)
				}
				if closeErr != nil {
					fmt.Fprintf(e.Stderr, "warning: %v\n", closeErr)
				}
				return nil
			}
		},
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
