package cli

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/flushwriter"
	"github.com/licensor/licensor/internal/logfile"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/store"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "run the site license server",
		help: `Usage: licensor serve [--config FILE] [--listen ADDR] [--license FILE] [--vendor-pub FILE] [--data DIR]
                      [--ca FILE] [--cert FILE] [--key FILE] [--log-format text|json] [--log-level LEVEL]
                      [--log-file FILE] [--check-config]

Runs the site license server: HTTPS with client certificates required
(TLS 1.2+), on :8443 by default. At start it verifies the license against
the vendor public key, this machine's fingerprint and its own server key
(DATA/server.key), and refuses to start, with the code and the fix, when
any check fails. SIGHUP reloads, without a restart and without dropping
open connections, the license, the server's TLS certificate and key, and
the client CA (after 'licensor pki server' reissues the certificate), and
reopens "log_file"; a file that does not load keeps what is in force and
logs its code. POST
/v1/admin/reload reloads the license. SIGTERM and SIGINT stop it
gracefully.

The configuration file is JSON; relative paths in it are relative to the
file. Every key, with its default:

  {
    "listen": ":8443",
    "license": "site.lic",
    "vendor_public_key": "vendor.pub",
    "data_dir": "data",
    "store": "",                 where the pool is: "" for licensor.db in data_dir,
                                 "sqlite:PATH", or postgres://USER@HOST:PORT/DB?sslmode=…
                                 for several servers sharing one pool (no password in it)
    "store_password_file": "",   the PostgreSQL password, one line (or PGPASSFILE, PGPASSWORD)
    "node": "",                  this server's name among several, unique among those
                                 running ("": the host name and the start of its
                                 server key's id)
    "cluster_interval": "5s",    how often a node checks in with the others: its clock
                                 against the database's, the license in force, QPS use
    "tls": {"ca": "pki/ca.crt", "cert": "pki/server.crt", "key": "pki/server.key"},
    "lease_ttl": "90s",          a lease not renewed within this is freed
    "clock_tolerance": "5m",     how far the clock may go back before service stops
    "reap_interval": "1s",       how often lapsed leases are freed
    "max_body_bytes": 16384,
    "shutdown_timeout": "10s",
    "log_format": "text",        or "json"
    "log_level": "info",         debug logs every heartbeat too
    "log_file": "",              append the log to this file ("": standard
                                 error, which systemd sends to the journal)
    "keyfile_validity": "168h",  how long a key file issued to a host is valid,
                                 unless the license sets its own
    "upstream": [],              the vendor's whitelist services (upstream mode)
    "upstream_ca": "",           their CA file ("": the system's)
    "upstream_interval": "24h",  how often the grant is fetched again
    "upstream_timeout": "10s",   how long each service may take to answer
    "token_module": "",          the PKCS#11 module (.so) of the hardware token the
                                 license binds (needed only then)
    "token_pin_file": "",        the token's user PIN, one line, mode 0600
                                 ("": the environment's LICENSOR_TOKEN_PIN)
    "token_check_interval": "30s", how often the token proves it is present (5s..1h)
    "token_grace": "2m",         how long grants go on once the token stops proving
                                 it is present (0..24h)
    "token_timeout": "5s"        how long one PKCS#11 call may take (100ms..1m)
  }

Hardware tokens: a license may bind a PKCS#11 token (a dongle, smart card
or HSM; 'licensor license show' says which binding is in force). The
server then proves at start, at every "token_check_interval" and at each
reload that the token is present, by having it sign a fresh random
challenge with the key the license binds; it does not start without it.
When a check fails it keeps granting for "token_grace" after the last good
one, then refuses every grant, renewal and key file with code 530 (531
when another token answers) and fails /readyz, until a check passes
again: no restart. Checks run on their own goroutine, never on the
request path; licensor_token_present and licensor_token_refusing are the
metrics; each change is logged and audited. The PIN is read anew at each
check; one the token refused is not tried again (each wrong PIN brings a
token nearer to locked) until the PIN file holds another.

Several servers: with "store" a PostgreSQL URL, any number of servers
share one pool and serve at once, each with its own data directory and
server key, under a cluster license naming every node ('licensor issue
--request A --request B …'). Limits stay exact across them; a revoke or a
release on one takes effect on all; each keeps its own audit chain. A
node whose clock is off the database server's by more than
min(clock_tolerance, lease_ttl/4) refuses with 519; a node cut off from
the database answers 701 (HTTP 503) and fails /readyz until it is back.
The nodes serve under one license: the latest issued that any of them
was started or reloaded with.

Upstream mode: with "upstream": ["https://vendor:9443", …] (and
"upstream_ca" for their CA, "upstream_interval", 24h by default) the server
gets its license from the vendor's whitelist service instead of a file:
at start from the first service that answers (the last good grant is kept
in the license file and used when none answers), again every interval (a
renewed contract is picked up without a restart). A service that does not
answer within "upstream_timeout" (10s; 100ms to 5m) fails with code 28 and
the next is asked; one that answers something other than a grant for this
site fails with the code of what is wrong. A grant that cannot be written
to the license file (disk full, read-only, permissions) fails with code
609 at once: the next service is not asked. While no service gives a grant
it serves until the grant it holds runs out; then it stops granting, logs
code 526 and exits with status 3.

Logs: one line per decision with its code, on standard error (under
systemd: 'journalctl -u licensor'; 'licensor doctor --journal licensor'
scans them) or, with "log_file", appended to that file, which SIGHUP
reopens, as logrotate needs ('licensor doctor --log FILE' scans it).

Unknown keys are refused with the key named; "//" outside a string starts
a comment that runs to the end of the line (examples/config/server.json is
a commented example). Flags override the file. A bad value in the file
is code 608 (exit status 1); a bad flag value (--listen nonsense) is a
mistake in the command line, code 604 (exit status 2), naming the flag.

--check-config validates the configuration and exits: it parses, and the
files it names load as they would at start (the vendor public key, the
license and its signature, DATA/server.key, the TLS certificate with its
key and the client CA, upstream_ca, the store setting, log_file's
directory); each is printed with what was found, a failure with its code
and fix, and the exit status is 1 when any failed. The license's machine
binding is checked at start ('licensor doctor --license' checks it too).
The Go garbage collector runs with GOGC=400 and a soft memory limit of
224 MiB (GOMEMLIMIT) unless the environment sets them: the live heap is
small and every request allocates, so the default would collect hundreds
of times a second under load.
--debug-addr 127.0.0.1:6060 also serves Go's profiler (/debug/pprof/) in
plain HTTP, without authentication: bind it to loopback only.

Endpoints (client certificate roles in brackets):
  POST /v1/authorize, /v1/heartbeat, /v1/release          [instance]
  GET  /security/license, /.well-known/jwks.json,
       /healthz, /readyz, /metrics                        [any role]
  POST /v1/keyfile                                         [renew]
  GET  /v1/admin/instances; POST /v1/admin/revoke,
       /v1/admin/reload                                   [admin]`,
		setup: func(fs *flag.FlagSet) runFunc {
			config := fs.String("config", "", "the JSON configuration file")
			listen := fs.String("listen", "", "address to listen on (default :8443)")
			lic := fs.String("license", "", "the license file")
			vendorPub := fs.String("vendor-pub", "", "the vendor's public key")
			data := fs.String("data", "", "the data directory (server.key, licensor.db)")
			ca := fs.String("ca", "", "the site CA client certificates chain to")
			cert := fs.String("cert", "", "the server's certificate")
			key := fs.String("key", "", "the server's private key")
			logFormat := fs.String("log-format", "", "text or json")
			logLevel := fs.String("log-level", "", "debug, info, warn or error")
			logFile := fs.String("log-file", "", "append the log to this file (reopened on SIGHUP) instead of standard error")
			checkOnly := fs.Bool("check-config", false, "validate the configuration and the files it names, then exit")
			debugAddr := fs.String("debug-addr", "", "also serve Go's profiler (net/http/pprof) in plain HTTP on this address, e.g. 127.0.0.1:6060")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("serve takes no arguments")
				}
				// A flag's bad value is a mistake in the command line
				// (exit 2); only the file's are the configuration's (608).
				if err := checkServeFlags(map[string]string{"listen": *listen, "log-format": *logFormat,
					"log-level": *logLevel, "debug-addr": *debugAddr}); err != nil {
					return err
				}
				server.TuneGC()
				cfg := server.Default()
				if *config != "" {
					var err error
					if cfg, err = loadServerConfig(*config); err != nil {
						return err
					}
				}
				override(&cfg.Listen, listen, &cfg.License, lic, &cfg.VendorPublicKey, vendorPub, &cfg.DataDir, data,
					&cfg.TLS.CA, ca, &cfg.TLS.Cert, cert, &cfg.TLS.Key, key, &cfg.LogFormat, logFormat, &cfg.LogLevel, logLevel, &cfg.LogFile, logFile)
				if err := cfg.Validate(); err != nil {
					return err
				}
				if *checkOnly {
					return e.checkConfig(configName(*config), serverChecks(cfg, e.Clock.Now()))
				}
				if *debugAddr != "" {
					if err := serveDebug(ctx, *debugAddr); err != nil {
						return err
					}
				}
				return e.serve(ctx, cfg, nil)
			}
		},
	})
}

// storeSetting is where cfg keeps the pool.
func storeSetting(cfg server.Config) storeopen.Setting {
	return storeopen.Setting{Store: cfg.Store, PasswordFile: cfg.StorePassword, DataDir: cfg.DataDir, Node: nodeName(cfg)}
}

// nodeName is the server's name among the nodes sharing a store: the node
// key, or else the host name and the first characters of the server key's
// id, which tell apart two nodes on one host.
func nodeName(cfg server.Config) string {
	if cfg.Node != "" {
		return cfg.Node
	}
	host, _ := os.Hostname()
	if len(host) > 40 {
		host = host[:40]
	}
	if k, err := keys.LoadPrivate(filepath.Join(cfg.DataDir, server.ServerKeyFile)); err == nil {
		kid := keys.ID(k.Public().(ed25519.PublicKey))
		if len(kid) > 8 {
			kid = kid[:8]
		}
		return host + "-" + kid
	}
	return host
}

// openStore opens the store cfg names.
func openStore(ctx context.Context, cfg server.Config) (store.Store, error) {
	return storeopen.Open(ctx, storeSetting(cfg))
}

func loadServerConfig(path string) (server.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return server.Config{}, codes.Errorf(codes.FileMissing, "cannot read the configuration: %w", err)
	}
	defer f.Close()
	cfg, err := server.Parse(f, filepath.Dir(path))
	if err == nil {
		err = storeopen.Check(cfg.Store)
	}
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// serve runs the server until ctx ends; ready, when set, is called once
// it listens.
func (e *Env) serve(ctx context.Context, cfg server.Config, ready func(addr string)) error {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.LogLevel]
	var out io.Writer = e.Stderr
	var logFile *logfile.File
	if cfg.LogFile != "" {
		var err error
		if logFile, err = logfile.Open(cfg.LogFile); err != nil {
			return err
		}
		defer logFile.Close()
		out = logFile
	}
	// One line per decision: buffered, and flushed every 100 ms and at exit.
	logOut := flushwriter.New(out, 100*time.Millisecond)
	defer logOut.Close()
	var h slog.Handler = slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level})
	}
	// The server's garbage is short-lived request state; collecting at 4x
	// the live heap instead of 2x saves a fifth of its CPU under load. An
	// operator's GOGC wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	log := slog.New(h)
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	srv, err := server.New(cfg, server.Options{Clock: e.Clock, Logger: log, Fingerprint: e.Fingerprint, Store: st})
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
	onHangup(ctx, func() {
		if logFile != nil {
			// What is buffered belongs to the file being rotated.
			logOut.Flush()
			if err := logFile.Reopen(); err != nil {
				e := codes.As(err)
				log.Error("reopen-log", "code", int(e.Code), "name", e.Code.Name(), "err", e.Detail(), "fix", e.FixText())
			}
		}
		srv.ReloadTLS(ctx)
		srv.Reload(ctx)
	})
	if ready != nil {
		ready(ln.Addr().String())
	}
	return srv.Run(ctx, ln)
}

// onHangup calls reload on each SIGHUP until ctx ends.
func onHangup(ctx context.Context, reload func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload()
			}
		}
	}()
}

// serveDebug serves the profiler until ctx ends. It is off unless asked
// for: it has no authentication, so bind it to loopback.
func serveDebug(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return codes.Errorf(codes.ListenFailed, "cannot listen on %s for --debug-addr: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return nil
}

// checkServeFlags checks the values given to serve's flags that have a
// form (flag name -> value, "" when not given), by the configuration's own
// rules, and names the flag of a bad one.
func checkServeFlags(flags map[string]string) error {
	if v := flags["debug-addr"]; v != "" {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return codes.Errorf(codes.InvalidArgument, "--debug-addr %q is not host:port (127.0.0.1:6060, say)", v)
		}
	}
	for _, name := range []string{"listen", "log-format", "log-level"} {
		v := flags[name]
		if v == "" {
			continue
		}
		cfg := server.Default()
		field := strings.ReplaceAll(name, "-", "_")
		switch name {
		case "listen":
			cfg.Listen = v
		case "log-format":
			cfg.LogFormat = v
		case "log-level":
			cfg.LogLevel = v
		}
		if err := cfg.Validate(); err != nil {
			msg := strings.TrimPrefix(codes.As(err).Detail(), field+": ")
			return codes.Errorf(codes.InvalidArgument, "--%s %s", name, msg)
		}
	}
	return nil
}

// override sets each setting (even arguments) to the flag value after it
// (odd arguments) when the flag was given.
func override(pairs ...*string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if *pairs[i+1] != "" {
			*pairs[i] = *pairs[i+1]
		}
	}
}
