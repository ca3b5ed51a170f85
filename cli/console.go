package cli

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/url"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/console"
	"github.com/licensor/licensor/sdk"
	"github.com/licensor/licensor/server"
)

func init() {
	register(&command{
		name:    "console",
		summary: "open a site server's web console through a local proxy holding the admin certificate",
		help: `Usage: licensor console --server URL --ca FILE --cert FILE --key FILE [--listen 127.0.0.1:0]

Runs a local proxy for the site server's web console (the license, seat
gauges, who holds what, history and health), so that a browser on this
host reaches it without importing the admin certificate: the proxy
listens on 127.0.0.1, holds the certificate (which must have the admin
role) and talks to the server over mutual TLS.

It prints a link, http://127.0.0.1:PORT/?token=…, to open in a browser on
this host. The token works once: the first request with it gets a session
cookie and is sent on to the console without it; any other request
without that session gets a 403 and nothing else (code 1101 for a used or
wrong token, 1102 for no session), and the proxy forwards only the
console's own paths. Every change made through the console (a revoke,
which asks for a reason) is audited with the admin certificate's identity.
Ctrl-C stops the proxy; run it again for a new link.

--listen must be a loopback address; the default picks a free port.

A browser that holds an admin certificate itself may open the console at
the server directly: https://HOST:8443/console/.`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o clientFlags
			o.register(fs)
			listen := fs.String("listen", "127.0.0.1:0", "the loopback address to listen on")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("console takes no arguments")
				}
				if err := loopbackAddr(*listen); err != nil {
					return err
				}
				c, err := o.client(e)
				if err != nil {
					return err
				}
				var sess server.ConsoleSession
				if err := c.get(ctx, server.PathConsoleSession, &sess); err != nil {
					return err
				}
				target, _ := url.Parse(c.base)
				p, err := console.NewProxy(console.ProxyOptions{Server: target, Transport: c.http.Transport, Clock: e.Clock,
					Classify: func(err error) error { return sdk.Classify(c.base, err) }})
				if err != nil {
					return err
				}
				ln, err := net.Listen("tcp", *listen)
				if err != nil {
					return codes.Errorf(codes.ListenFailed, "the console proxy cannot listen on %s: %w", *listen, err)
				}
				fmt.Fprintf(e.Stdout, "Console of %s, as %s. Open this link in a browser on this host (it works once):\n\n  %s\n\nCtrl-C stops the proxy.\n",
					c.base, sess.Admin, p.URL(ln.Addr().String()))
				return p.Serve(ctx, ln)
			}
		},
	})
}

// loopbackAddr checks that --listen is a loopback address with a port.
func loopbackAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return codes.Errorf(codes.InvalidArgument, "--listen %q: want 127.0.0.1:PORT", addr)
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return codes.Errorf(codes.InvalidArgument, "--listen %q: the console proxy listens on a loopback address only, since whoever reaches it acts as the admin", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return codes.Errorf(codes.InvalidArgument, "--listen %q: bad port", addr)
	}
	return nil
}
