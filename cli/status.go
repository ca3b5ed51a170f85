package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/transport"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/sdk"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/store"
)

func init() {
	register(&command{
		name:    "status",
		summary: "print a site server's license and instance pools",
		help: `Usage: licensor status --server URL --ca FILE --cert FILE --key FILE [--product P] [--json]

Prints the license a site server holds and, product by product, how many
instances the license allows, how many hold a lease, and each holder: its
instance id, the client certificate it came with, since when, its last
heartbeat and when its lease lapses. Key-file hosts are listed apart, with
their key file's dates instead of a heartbeat (they never heartbeat): each
holds a seat until the key file it was given expires (the key file works
offline, so nothing shortens it), and a revoked one says so, with the date
its seat ends. Times are UTC; with --json, RFC 3339.

When several servers share one store (PostgreSQL), it lists the nodes
first: each one's address, when the database last heard from it, its
license id, version and the seats it last granted or renewed; and for
each seat, the node that last renewed it. Needs a client certificate with
the admin role ('licensor pki client --role admin').`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o clientFlags
			o.register(fs)
			product := fs.String("product", "", "show only this product")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("status takes no arguments")
				}
				c, err := o.client(e)
				if err != nil {
					return err
				}
				var lic license.View
				if err := c.get(ctx, api.PathLicense, &lic); err != nil {
					return err
				}
				path := api.PathInstances
				if *product != "" {
					path += "?product=" + url.QueryEscape(*product)
				}
				var pools server.InstancesBody
				if err := c.get(ctx, path, &pools); err != nil {
					return err
				}
				if *asJSON {
					out := map[string]any{"server": c.base, "license": lic, "products": pools.Products}
					if len(pools.Nodes) > 0 {
						out["nodes"], out["node"] = pools.Nodes, pools.Node
					}
					return e.writeJSON(out)
				}
				printStatus(e, c.base, lic, pools, e.Clock.Now())
				return nil
			}
		},
	})
}

func printStatus(e *Env, base string, lic license.View, pools server.InstancesBody, now time.Time) {
	w := e.Stdout
	fmt.Fprintf(w, "License server %s: license %s for %s, issued by %s\n", base, lic.ID, lic.Holder, lic.Issuer)
	if t := lic.Token; t != nil {
		state := "not reported"
		if lic.DogCount != nil && *lic.DogCount > 0 {
			state = fmt.Sprintf("present (%d token holds the key)", *lic.DogCount)
		} else if lic.DogCount != nil {
			state = "MISSING at the last check ('licensor doctor --token-module M' says why)"
		}
		fmt.Fprintf(w, "Binding %s: %s; token %s\n", lic.SecurityType, t.Describe(), state)
	}
	if len(pools.Nodes) > 0 {
		fmt.Fprintf(w, "\nNodes sharing the store (%d; this answer from %s):\n", len(pools.Nodes), pools.Node)
		for _, n := range pools.Nodes {
			seen := "never"
			if !n.LastSeen.IsZero() {
				seen = license.FormatTime(n.LastSeen) + " UTC"
			}
			fmt.Fprintf(w, "    %s  address %s  last seen %s  license %s  version %s  seats %d\n",
				n.Name, n.Address, seen, n.LicenseID, n.Version, n.Seats)
		}
	}
	for _, p := range pools.Products {
		fmt.Fprintf(w, "\nUsers of %s:  (Total of %d instances licensed;  Total of %d in use: %d by instances, %d by key-file hosts)",
			p.Product, p.Limit, p.Held, len(p.Instances), len(p.KeyFileHosts))
		if end, err := time.Parse(time.RFC3339, p.NotAfter); err == nil {
			fmt.Fprintf(w, "  until %s UTC", license.FormatTime(end))
		}
		if p.QPS > 0 {
			fmt.Fprintf(w, "  qps %.1f of %d", p.QPSUsed, p.QPS)
		}
		fmt.Fprintln(w)
		for _, l := range p.Instances {
			fmt.Fprintf(w, "    %s  holder %s  since %s UTC  last heartbeat %s ago  lapses in %s",
				l.InstanceID, l.Holder, license.FormatTime(l.Since), license.DaysLeft(max(now.Sub(l.Renewed), 0)), license.DaysLeft(max(l.Expires.Sub(now), 0)))
			if l.Node != "" {
				fmt.Fprintf(w, "  via %s", l.Node)
			}
			fmt.Fprintln(w)
		}
		if len(p.KeyFileHosts) > 0 {
			fmt.Fprintln(w, "  key-file hosts (each seat held until its key file expires; it works offline and cannot be recalled; key-file hosts never heartbeat):")
		}
		for _, l := range p.KeyFileHosts {
			// A key-file seat is renewed with each key file: its
			// renewal is the key file's issue time, its end the key
			// file's expiry.
			fmt.Fprintf(w, "    %s  holder %s  since %s UTC  key file issued %s UTC  held until %s UTC (%s left)",
				strings.TrimPrefix(l.InstanceID, store.KeyFileSeatPrefix), l.Holder, license.FormatTime(l.Since), license.FormatTime(l.Renewed),
				license.FormatTime(l.Expires), license.DaysLeft(max(l.Expires.Sub(now), 0)))
			if !l.Revoked.IsZero() {
				fmt.Fprintf(w, "  REVOKED %s UTC by %s: not renewed, counted until then", license.FormatTime(l.Revoked), l.RevokedBy)
			}
			fmt.Fprintln(w)
		}
	}
}

// clientFlags are the flags of a command that talks to a site server.
type clientFlags struct {
	server, ca, cert, key string
	timeout               time.Duration
}

func (o *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.server, "server", "", "the site server's URL, e.g. https://licensor.example:8443")
	fs.StringVar(&o.ca, "ca", "", "the site CA file")
	fs.StringVar(&o.cert, "cert", "", "this client's certificate")
	fs.StringVar(&o.key, "key", "", "this client's private key")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long a request may take")
}

// siteClient is a mutual-TLS client of one site server.
type siteClient struct {
	base string
	http *http.Client
	// systemRoots: no CA file was given, the server is checked against
	// the system's trusted roots (check --upstream without --ca).
	systemRoots bool
}

// classify names a failure to reach the server, as the SDK does.
func (c *siteClient) classify(err error) error {
	if c.systemRoots {
		return transport.ClassifySystemRoots(c.base, err)
	}
	return sdk.Classify(c.base, err)
}

func (o *clientFlags) client(e *Env) (*siteClient, error) {
	for _, f := range []struct{ name, v string }{{"--server", o.server}, {"--ca", o.ca}, {"--cert", o.cert}, {"--key", o.key}} {
		if f.v == "" {
			return nil, usageErrorf("needs %s", f.name)
		}
	}
	u, err := url.Parse(o.server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, codes.Errorf(codes.InvalidArgument, "--server %q: want https://HOST:PORT", o.server)
	}
	cfg, err := pki.ClientTLSConfig(o.ca, o.cert, o.key, e.Clock.Now())
	if err != nil {
		return nil, err
	}
	return &siteClient{base: strings.TrimRight(o.server, "/"), http: &http.Client{
		Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false},
		Timeout:   o.timeout,
	}}, nil
}

// get fetches path into v; an error body becomes its *codes.Error.
func (c *siteClient) get(ctx context.Context, path string, v any) error {
	return c.call(ctx, http.MethodGet, path, nil, v)
}

// call sends a request and decodes the answer into v. A transport failure
// is classified as the SDK classifies it; an error body becomes its
// *codes.Error.
func (c *siteClient) call(ctx context.Context, method, path string, in, v any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return codes.Errorf(codes.InvalidArgument, "%v", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.classify(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return c.classify(err)
	}
	if resp.StatusCode != http.StatusOK {
		return transport.ErrorFromBody(method+" "+c.base+path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return codes.Errorf(codes.Protocol, "%s %s: the answer is not the JSON expected: %v", method, c.base+path, err)
	}
	return nil
}
