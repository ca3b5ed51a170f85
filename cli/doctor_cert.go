package cli

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/doctor"
	"github.com/licensor/licensor/internal/readfile"
	"github.com/licensor/licensor/pki"
)

func init() {
	register(&command{
		name:    "doctor cert",
		summary: "explain offline why TLS would accept or refuse a certificate chain",
		help: `Usage: licensor doctor cert FILE… [--ca FILE] [--host NAME] [--client] [--json]

Explains a certificate chain without a network. Reads every certificate
from the FILEs in order (the leaf first, then its intermediates), prints
each one, then checks:

  order        each certificate is issued by the next
  dates        every certificate is valid now (warns within 30 days of expiry)
  self-signed  the leaf was issued by a CA, not by itself
  chain        the chain verifies to a CA in the --ca file (skipped without it);
               if not, why: an unknown CA or one made again, a missing
               intermediate, an issuer not allowed to sign certificates
               (CA:FALSE, no keyCertSign), a SHA-1 or MD5 signature
  host         the leaf covers --host, a DNS name or IP address (skipped without it)
  key-usage    the leaf may authenticate a server (or, with --client, a client)
  role         with --client: the leaf carries a licensor role

A failed check prints its code (60 server_cert; 58 client_cert with
--client; 77 ca_file for the CA file) and the fix. The exit status is 0
when no check failed (warnings allowed), 1 when one did, 2 for a usage
error. --json prints {certificates, checks, valid} with stable snake_case
keys.`,
		setup: func(fs *flag.FlagSet) runFunc {
			caFile := fs.String("ca", "", "the CA file the peer trusts (the site's ca.crt)")
			host := fs.String("host", "", "the host name or IP address clients dial the server by")
			client := fs.Bool("client", false, "check a client certificate rather than a server one")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) == 0 {
					return usageErrorf("doctor cert needs a FILE: a PEM certificate file, leaf first")
				}
				if *client && *host != "" {
					return usageErrorf("doctor cert: --host checks a server certificate; it does not go with --client")
				}
				return runDoctorCert(e, args, *caFile, *host, *client, *asJSON)
			}
		},
	})
}

func runDoctorCert(e *Env, files []string, caFile, host string, client, asJSON bool) error {
	now := e.Clock.Now()
	code, what := codes.ServerCert, "server certificate"
	if client {
		code, what = codes.ClientCert, "client certificate"
	}
	var chain []*x509.Certificate
	for _, path := range files {
		data, err := readfile.Limited(path, pki.MaxFileSize, what+" file")
		if err != nil {
			return err
		}
		certs, err := pki.ParseCertificates(data)
		if err != nil {
			return codes.Errorf(code, "%s: %w", path, err).
				WithFix("Give PEM certificate files such as those 'licensor pki init' and 'licensor pki client' write (.crt); a key file (.key) holds no certificate.")
		}
		chain = append(chain, certs...)
	}

	opts := doctor.ChainOptions{Host: host, Client: client, Now: now}
	var caCheck *doctor.Result
	if caFile != "" {
		pool, r := doctor.ExplainCAFileAt(caFile, now)
		caCheck, opts.Roots = &r, pool
	}
	rep := doctor.ExplainChain(chain, opts)
	if caCheck != nil {
		rep.Checks = append([]doctor.Result{*caCheck}, rep.Checks...)
		if caCheck.Status == doctor.Fail {
			rep.Valid = false
		}
		if opts.Roots == nil {
			for i := range rep.Checks {
				if rep.Checks[i].Name == "chain" && rep.Checks[i].Status == doctor.Skip {
					rep.Checks[i].Found = "not verified: the CA file cannot be used (see ca-file)"
				}
			}
		}
	}

	if asJSON {
		if err := e.writeJSON(rep); err != nil {
			return err
		}
	} else {
		printCertFile(e, certFile{File: strings.Join(files, " + "), Certificates: rep.Certificates}, now)
		fmt.Fprintln(e.Stdout)
		printDoctorCertChecks(e.Stdout, rep.Checks)
	}
	if rep.Valid {
		return nil
	}
	var failed []string
	for _, r := range rep.Checks {
		if r.Status == doctor.Fail {
			if len(failed) == 0 {
				code = codes.Code(r.Code)
			}
			failed = append(failed, r.Name)
		}
	}
	return reported{codes.Errorf(code, "the certificate chain fails %s", strings.Join(failed, ", "))}
}

// printDoctorCertChecks writes one line per check, its details indented
// under it and, unless it passed, its fix.
func printDoctorCertChecks(w io.Writer, checks []doctor.Result) {
	for _, r := range checks {
		label := string(r.Status)
		msg := r.Found
		if r.Status == doctor.Fail {
			label = "FAIL"
			c := codes.Code(r.Code)
			msg = fmt.Sprintf("code=%d %s: %s", int(c), c.Name(), r.Found)
		}
		fmt.Fprintf(w, "%-4s  %-11s  %s\n", label, r.Name, msg)
		for _, d := range r.Details {
			fmt.Fprintf(w, "      %s\n", d)
		}
		if r.Fix != "" && (r.Status == doctor.Fail || r.Status == doctor.Warn) {
			fmt.Fprintf(w, "      fix: %s\n", r.Fix)
		}
	}
}
