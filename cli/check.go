package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/sdk"
	"github.com/licensor/licensor/server"
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
checks it the way an async product asks.

--upstream URL --data DIR [--ca VENDOR_CA] proves instead that the vendor's
whitelist service is reachable and grants this machine a license (the
site server's upstream mode): it sends this host's activation request,
verifies the license it gets with --vendor-pub, and writes nothing.
Without --ca the system's trusted roots verify the service's certificate
(as the site server does without upstream_ca). The service has --timeout
to answer, 10s unless given (as the site server's upstream_timeout).

--keyfile proves instead that a site server will issue this host's key
file (with a renew-role certificate): it asks for it, verifies it on this
host, prints it, and writes nothing. Like 'licensor renew', it holds the
host's key-file seat for the key file's validity.`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o clientFlags
			o.register(fs)
			vendorPub := fs.String("vendor-pub", "", "the vendor's public key file")
			product := fs.String("product", "", "the product to authorize")
			instance := fs.String("instance", "", "the instance id to use (default: licensor-check-HOSTNAME)")
			async := fs.Bool("async", false, "register as an async instance")
			asKeyFile := fs.Bool("keyfile", false, "ask for this host's key file (renew role) instead, verify it and print it; nothing is written")
			upstream := fs.String("upstream", "", "instead, ask this vendor whitelist service whether it grants this machine a license")
			data := fs.String("data", "", "with --upstream: the site server's data directory (its server key)")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("check takes no arguments")
				}
				if *upstream != "" {
					if *data == "" || *vendorPub == "" {
						return usageErrorf("check --upstream needs --data DIR and --vendor-pub FILE")
					}
					timeout := time.Duration(server.Default().UpstreamTimeout)
					fs.Visit(func(f *flag.Flag) {
						if f.Name == "timeout" {
							timeout = o.timeout
						}
					})
					return e.checkUpstream(ctx, *upstream, o.ca, *data, *vendorPub, timeout)
				}
				for _, f := range []struct{ name, v string }{{"--server", o.server}, {"--ca", o.ca}, {"--cert", o.cert}, {"--key", o.key}, {"--vendor-pub", *vendorPub}} {
					if f.v == "" {
						return usageErrorf("check needs %s", f.name)
					}
				}
				if *asKeyFile {
					return e.checkKeyFileIssue(ctx, o, *vendorPub, *product)
				}
				if *product == "" {
					return usageErrorf("check needs --product")
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

// checkKeyFileIssue asks the servers for this host's key file and checks
// it, without writing it.
func (e *Env) checkKeyFileIssue(ctx context.Context, o clientFlags, vendorPub, product string) error {
	fp, err := e.Fingerprint()
	if err != nil {
		return codes.Errorf(codes.Unknown, "cannot compute this host's machine code: %w", err)
	}
	req := api.KeyFileRequest{MachineCode: fp.Code, Components: fp.Hashes()}
	if product != "" {
		req.Products = []string{product}
	}
	var last error
	for _, u := range strings.Split(o.server, ",") {
		o.server = strings.TrimSpace(u)
		c, err := o.client(e)
		if err != nil {
			return err
		}
		var body api.KeyFileBody
		if err := c.call(ctx, "POST", api.PathKeyFile, req, &body); err != nil {
			last = err
			continue
		}
		if err := checkKeyFile(e, []byte(body.KeyFile), vendorPub); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "code=0 ok: %s issues this host (%s) a key file\n", o.server, fp.Code)
		fmt.Fprintf(e.Stdout, "  valid until: %s UTC\n  products:    %s\n", license.FormatTime(body.Expires), strings.Join(body.Products, ", "))
		if len(body.Refused) > 0 {
			fmt.Fprintf(e.Stdout, "  refused:     %s (pools full)\n", strings.Join(body.Refused, ", "))
		}
		return nil
	}
	return last
}

// upstreamProtocolFix is the fix for a check --upstream answered by
// something other than a vendor whitelist service.
const upstreamProtocolFix = "Check the --upstream URL: it must be the HTTPS address of the vendor's whitelist service ('licensor vendor serve'), as the vendor gave it, not a site server or another web service on that host and port; a proxy on the path must pass the service's answers through unchanged."

// errUpstreamTimeout is the cause of a check --upstream request that ran
// out of its timeout.
var errUpstreamTimeout = errors.New("the --upstream timeout passed")

// checkUpstream asks a vendor whitelist service for this machine's grant,
// giving it timeout to answer.
func (e *Env) checkUpstream(ctx context.Context, url, ca, dataDir, vendorPub string, timeout time.Duration) error {
	req, _, err := e.activationRequest(dataDir)
	if err != nil {
		return err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pool, err := pki.LoadCertPool(ca)
		if err != nil {
			return err
		}
		cfg.RootCAs = pool
	}
	c := &siteClient{base: strings.TrimRight(url, "/"), http: &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, systemRoots: ca == ""}
	defer c.http.CloseIdleConnections()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errUpstreamTimeout)
	defer cancel()
	var g api.GrantBody
	if err := c.call(ctx, "POST", api.PathGrant, req, &g); err != nil {
		if context.Cause(ctx) == errUpstreamTimeout {
			e := codes.Errorf(codes.Timeout, "%s: no answer within %s", c.base, timeout)
			e.Err = err
			return e.WithFix(fmt.Sprintf("The vendor's service did not answer within %s: check the network path to it (proxy, firewall) and ask the vendor whether it is overloaded. The site server gives it upstream_timeout (10s by default); --timeout sets how long this check waits.", timeout))
		}
		if c := codes.Of(err); c == codes.Protocol || c == codes.WeirdReply {
			// Code 1's and 8's fixes speak of the site server.
			return codes.As(err).WithFix(upstreamProtocolFix)
		}
		return err
	}
	vendor, err := keys.LoadPublic(vendorPub)
	if err != nil {
		return err
	}
	signed, err := license.Parse([]byte(g.License))
	if err != nil {
		return err
	}
	l, err := signed.Verify(vendor)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "code=0 ok: %s grants machine %s a license\n", url, req.MachineCode)
	fmt.Fprintf(e.Stdout, "  customer:     %s\n  contract end: %s UTC\n  valid until:  %s UTC (with the grace period)\n  products:     %s\n",
		g.Customer, license.FormatTime(g.ContractEnd), license.FormatTime(g.NotAfter), strings.Join(l.Subjects(), ", "))
	return nil
}
