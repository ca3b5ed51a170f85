package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/doctor"
)

func init() {
	register(&command{
		name:    "doctor",
		summary: "diagnose authorization failures: each check with its code and fix",
		help: `Usage: licensor doctor [--server URL[,URL…]] [--ca FILE --cert FILE --key FILE]
                       [--license FILE --vendor-pub FILE] [--keyfile FILE] [--product NAME] [--log FILE] [--journal UNIT [--since DURATION]]
                       [--token-module FILE [--pin-file FILE]] [--only CHECK] [--json]

Runs the checks that explain why a product is not authorized, in order,
and reports each as pass, warn, fail or skip, with its code, what it found
and the fix; a failed check skips only the checks that depend on it. Exit
status 0 when nothing failed, 1 when a check failed (whatever its code),
2 for a usage error.

Checks:
  ca-file             the CA file: readable, which CAs, their dates
  client-cert         our certificate: readable, matches its key, dates, clientAuth, role
  license             signature with the vendor key, this machine, dates, products, QPS mode
  key-file            an offline key file: chain, this host, dates, days left (< 5: warn),
                      the clock's high-water mark
  token-module        with --token-module: the PKCS#11 module loads and initialises
                      (the token's driver runs)
  token-present       a token is in a slot: serials, labels, keys, a locked PIN
  token-key           the license's token key is on a token present and, given
                      the PIN (--pin-file or LICENSOR_TOKEN_PIN), signs a fresh
                      challenge that verifies with it
  resolve             the server's host name resolves            (per server)
  tcp                 connect: refused, unreachable or timed out  (per server)
  tls                 the port speaks TLS at all                  (per server)
  server-cert         the chain: trusted by the CA, dates, host name, missing
                      intermediate, self-signed, serverAuth, an
                      issuer not a CA, a SHA-1 signature          (per server)
  client-ca-accepted  our certificate's CA is among those the server accepts
                      (read from its CertificateRequest)          (per server)
  clock-skew          this host's clock against the server's      (per server)
  round-trip          one authorization through the SDK: the verdict's code
                                                                  (per server)
  log-scan            recent lines of a server log by code, with their meaning:
                      --log FILE reads the server's log_file (its last 16 MiB);
                      --journal UNIT reads what the server wrote to the systemd
                      journal (journalctl -u UNIT, the last --since, 24h by
                      default); without journalctl it is skipped

--only CHECK reports only that check (the ones it depends on still run).
'licensor doctor cert' explains a certificate chain, 'licensor doctor
token' a JWT, offline.`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o clientFlags
			o.register(fs)
			lic := fs.String("license", "", "the license file to check")
			vendorPub := fs.String("vendor-pub", "", "the vendor's public key")
			keyFile := fs.String("keyfile", "", "an offline key file to check")
			product := fs.String("product", "", "the product to check and to authorize in the round trip")
			logFile := fs.String("log", "", "a server log file (its log_file) to scan for failure codes")
			journal := fs.String("journal", "", "a systemd unit (licensor) whose journal to scan for failure codes")
			since := fs.Duration("since", 24*time.Hour, "how far back --journal reads")
			only := fs.String("only", "", "report only this check")
			asJSON := fs.Bool("json", false, "print JSON")
			var hw hwTokenFlags
			hw.register(fs)
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("doctor takes no arguments; 'licensor doctor cert' and 'licensor doctor token' explain a certificate or a token")
				}
				if *only != "" && !slices.Contains(doctor.CheckNames, *only) {
					return usageErrorf("no check %q; the checks are %s", *only, strings.Join(doctor.CheckNames, ", "))
				}
				if o.server == "" && o.ca == "" && o.cert == "" && *lic == "" && *keyFile == "" && *logFile == "" && *journal == "" && hw.module == "" {
					return usageErrorf("doctor needs something to check: --server, --ca/--cert/--key, --license, --keyfile, --token-module, --log or --journal")
				}
				if *since <= 0 {
					return usageErrorf("doctor: --since %s: want a positive duration such as 24h", *since)
				}
				host, _ := e.Hostname()
				opts := doctor.Options{CAFile: o.ca, CertFile: o.cert, KeyFile: o.key, LicenseFile: *lic, VendorPub: *vendorPub, OfflineKeyFile: *keyFile,
					Product: *product, LogFile: *logFile, Journal: *journal, LogSince: *since, Only: *only, Now: e.Clock.Now, Fingerprint: e.Fingerprint, Hostname: host}
				if err := hw.apply(&opts); err != nil {
					return err
				}
				for _, s := range strings.Split(o.server, ",") {
					if s = strings.TrimSpace(s); s != "" {
						opts.Servers = append(opts.Servers, strings.TrimRight(s, "/"))
					}
				}
				rep := doctor.Diagnose(ctx, opts)
				if *asJSON {
					if err := e.writeJSON(rep); err != nil {
						return err
					}
				} else {
					printResults(e.Stdout, rep.Checks)
				}
				if !rep.OK {
					return diagnosed{firstFailure(rep.Checks)}
				}
				return nil
			}
		},
	})
}

// printResults writes checks one line each, details indented.
func printResults(w io.Writer, rs []doctor.Result) {
	for _, r := range rs {
		status := string(r.Status)
		if r.Status == doctor.Fail {
			status = "FAIL"
		}
		line := fmt.Sprintf("%-5s %-19s %s", status, r.Name, r.Found)
		if r.Code != 0 {
			line = fmt.Sprintf("%-5s %-19s code=%d %s: %s", status, r.Name, r.Code, codes.Code(r.Code).Name(), r.Found)
		}
		fmt.Fprintln(w, line)
		for _, d := range r.Details {
			fmt.Fprintf(w, "%25s %s\n", "", d)
		}
		if r.Fix != "" && r.Status != doctor.Pass && r.Status != doctor.Skip {
			fmt.Fprintf(w, "%25s fix: %s\n", "", r.Fix)
		}
	}
}

func firstFailure(rs []doctor.Result) error {
	for _, r := range rs {
		if r.Status == doctor.Fail {
			return &codes.Error{Code: codes.Code(r.Code), Msg: r.Found, Fix: r.Fix}
		}
	}
	return codes.Errorf(codes.Unknown, "a check failed")
}
