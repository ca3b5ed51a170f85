package cli

import (
	"context"
	"flag"
	"os"

	"github.com/licensor/licensor/loadtest"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
)

// benchProbeServer is the probe server process 'licensor bench --probe'
// starts: the same binary, so that the probe is measured as a server is,
// from another process.
const benchProbeServer = "bench-probe-server"

func init() {
	register(&command{
		name:    benchProbeServer,
		summary: "serve one of bench --probe's trivial servers (started by bench itself)",
		hidden:  true,
		help: `Usage: licensor bench-probe-server --mode probe-trivial|probe-ed25519 --ca FILE --cert FILE --key FILE
       [--listen 127.0.0.1:0]

The trivial server 'licensor bench --probe' measures, run by bench itself
as a process of its own; not for use by hand. It serves over mutual TLS
with the site server's TLS and HTTP settings, the server certificate
--cert and --key and client certificates from --ca, answering what bench
asks: probe-trivial a fixed body the size of a heartbeat's renewal,
probe-ed25519 one Ed25519 signature per request in a body the size of a
verdict. It prints its URL on the first line of standard output and
serves until its standard input ends.`,
		setup: func(fs *flag.FlagSet) runFunc {
			var mode, ca, cert, key, listen string
			fs.StringVar(&mode, "mode", "", "probe-trivial or probe-ed25519")
			fs.StringVar(&ca, "ca", "", "the CA that issues the clients' certificates")
			fs.StringVar(&cert, "cert", "", "the server certificate")
			fs.StringVar(&key, "key", "", "the server certificate's private key")
			fs.StringVar(&listen, "listen", "127.0.0.1:0", "the address to listen on")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("%s takes no arguments", benchProbeServer)
				}
				switch m := loadtest.Mode(mode); {
				case m != loadtest.ProbeTrivial && m != loadtest.ProbeEd25519:
					return usageErrorf("%s: --mode %q: want %s or %s", benchProbeServer, mode, loadtest.ProbeTrivial, loadtest.ProbeEd25519)
				case ca == "" || cert == "" || key == "":
					return usageErrorf("%s needs --ca, --cert and --key", benchProbeServer)
				}
				st, err := pki.NewServerTLS(ca, cert, key, e.Clock.Now())
				if err != nil {
					return err
				}
				server.TuneGC() // as licensor serve runs
				return loadtest.ServeProbeProcess(ctx, loadtest.Mode(mode), st.Config(), listen, os.Stdin, e.Stdout)
			}
		},
	})
}
