package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/doctor"
	"github.com/licensor/licensor/internal/readfile"
	"github.com/licensor/licensor/internal/transport"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/sdk"
)

// jwksTimeout bounds fetching a key set, connection and answer together.
const jwksTimeout = 5 * time.Second

func init() {
	register(&command{
		name:    "doctor token",
		summary: "explain a JWT step by step: format, alg, key, signature, times, iss, aud",
		help: `Usage: licensor doctor token TOKEN|- [--jwks FILE|URL [--ca FILE --cert FILE --key FILE]]
                            [--iss ISSUER] [--aud AUDIENCE] [--alg ALG] [--skew 60s] [--json]
       licensor doctor token --file FILE [flags]

Explains why a JWT is or is not accepted, one step at a time — format,
alg, kid, signature, exp, nbf, iat, iss, aud — with each failure's code
and fix. The claims are shown and checked even when the signature fails,
so that everything wrong with a token shows at once.

TOKEN is the token itself; "-" reads it from standard input and --file
from a file, which keep it out of the shell history. --jwks is the
issuer's key set: a file, or an https:// URL. A licensor site server
publishes its key set at https://HOST:8443/.well-known/jwks.json and
answers only clients with a certificate: give --ca, --cert and --key as
for 'licensor status'. Without --jwks the signature is not checked, and
nothing shows who made the token.

licensor's own tokens (verdicts) are EdDSA, iss "licensor-site" and aud
"licensor:PRODUCT". alg "none" is always refused, and so is an HMAC alg
(HS256…) where the keys are public keys: the key-confusion attack.

Exit status 0 when no step failed, 1 when one did.`,
		setup: func(fs *flag.FlagSet) runFunc {
			jwks := fs.String("jwks", "", "the issuer's key set (JWKS): a file or an https:// URL")
			file := fs.String("file", "", "read the token from this file")
			ca := fs.String("ca", "", "the CA file that vouches for the --jwks server (default: the system's CAs)")
			cert := fs.String("cert", "", "a client certificate for the --jwks server (a site server needs one)")
			key := fs.String("key", "", "the client certificate's private key")
			iss := fs.String("iss", "", "the expected issuer (iss); not checked when empty")
			aud := fs.String("aud", "", "the expected audience (aud); not checked when empty")
			var algs stringList
			fs.Var(&algs, "alg", "an allowed algorithm; repeat or separate with commas (default EdDSA)")
			skew := fs.Duration("skew", doctor.DefaultSkew, "the clock difference tolerated for exp, nbf and iat")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				switch {
				case *file != "" && len(args) > 0:
					return usageErrorf("doctor token takes a TOKEN or --file, not both")
				case *file == "" && len(args) != 1:
					return usageErrorf("doctor token takes one TOKEN (or - to read standard input, or --file FILE)")
				case *skew < 0:
					return usageErrorf("--skew %v: want 0 or more", *skew)
				}
				token, err := readToken(args, *file)
				if err != nil {
					return err
				}
				src := jwksSource{where: *jwks, ca: *ca, cert: *cert, key: *key}
				if err := src.validate(); err != nil {
					return err
				}
				opts := doctor.TokenOptions{Issuer: *iss, Audience: *aud, Now: e.Clock.Now(), Skew: *skew}
				if *skew == 0 {
					opts.Skew = -1 // TokenOptions reads 0 as the default
				}
				for _, a := range algs {
					for _, one := range strings.Split(a, ",") {
						if one = strings.TrimSpace(one); one != "" {
							opts.Algs = append(opts.Algs, one)
						}
					}
				}
				if opts.Keys, err = src.load(ctx, e); err != nil {
					return err
				}
				rep := doctor.ExplainToken(token, opts)
				if *asJSON {
					if err := e.writeJSON(rep); err != nil {
						return err
					}
				} else {
					printTokenReport(e.Stdout, rep, len(opts.Keys) > 0)
				}
				if !rep.Valid {
					return diagnosed{firstFailure(rep.Steps)}
				}
				return nil
			}
		},
	})
}

// readToken returns the token from the command line, standard input ("-")
// or a file.
func readToken(args []string, file string) (string, error) {
	switch {
	case file != "":
		b, err := readfile.Limited(file, doctor.MaxTokenSize, "token file")
		return string(b), err
	case args[0] == "-":
		b, err := io.ReadAll(io.LimitReader(os.Stdin, doctor.MaxTokenSize+1))
		if err != nil {
			return "", codes.Errorf(codes.FileMissing, "cannot read the token from standard input: %w", err)
		}
		return string(b), nil
	}
	return args[0], nil
}

// jwksSource is where the verification keys come from.
type jwksSource struct {
	where         string // "", a file or an https:// URL
	ca, cert, key string
}

func (s jwksSource) isURL() bool { return strings.Contains(s.where, "://") }

func (s jwksSource) validate() error {
	tlsFlags := s.ca != "" || s.cert != "" || s.key != ""
	switch {
	case tlsFlags && !s.isURL():
		return usageErrorf("--ca, --cert and --key are for fetching --jwks from an https:// URL")
	case (s.cert == "") != (s.key == ""):
		return usageErrorf("--cert and --key go together")
	case s.cert != "" && s.ca == "":
		return usageErrorf("--cert and --key need --ca, the CA that vouches for the server")
	}
	return nil
}

// load reads and parses the key set; no source is no keys.
func (s jwksSource) load(ctx context.Context, e *Env) ([]jose.JSONWebKey, error) {
	var (
		data []byte
		err  error
	)
	switch {
	case s.where == "":
		return nil, nil
	case s.isURL():
		data, err = s.fetch(ctx, e)
	default:
		data, err = readfile.Limited(s.where, doctor.MaxJWKSSize, "JWKS file")
	}
	if err != nil {
		return nil, err
	}
	ks, err := doctor.ParseJWKS(data)
	if err != nil {
		c := codes.As(err)
		return nil, &codes.Error{Code: c.Code, Msg: s.where + ": " + c.Msg, Fix: c.Fix, Err: c.Err}
	}
	return ks, nil
}

// fetch GETs the key set over HTTPS, with a client certificate when given.
func (s jwksSource) fetch(ctx context.Context, e *Env) ([]byte, error) {
	u, err := url.Parse(s.where)
	if err != nil || u.Host == "" {
		return nil, codes.Errorf(codes.InvalidArgument, "--jwks %q is not a URL", s.where)
	}
	if u.Scheme != "https" {
		return nil, codes.Errorf(codes.InvalidArgument, "--jwks %q: keys fetched without TLS prove nothing about who signed the token", s.where).
			WithFix("Fetch the key set over https://, or give it as a file.")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	switch {
	case s.cert != "":
		if tr.TLSClientConfig, err = pki.ClientTLSConfig(s.ca, s.cert, s.key, e.Clock.Now()); err != nil {
			return nil, err
		}
	case s.ca != "":
		pool, err := pki.LoadCertPool(s.ca)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: jwksTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return errors.New("redirected away from https")
			}
			return nil
		}}
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.where, nil)
	if err != nil {
		return nil, codes.Errorf(codes.InvalidArgument, "--jwks %q: %v", s.where, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, sdk.Classify(u.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, doctor.MaxJWKSSize+1))
	if err != nil {
		return nil, sdk.Classify(u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := transport.ErrorFromBody("GET "+s.where, resp.StatusCode, data)
		if e.Code != codes.WeirdReply {
			e.Msg = fmt.Sprintf("GET %s: %s", s.where, e.Msg)
			return nil, e
		}
		return nil, e.WithFix("Check the URL: a licensor site server publishes its key set at /.well-known/jwks.json; if the URL is right, something on the path (a proxy, another service) answers in the server's place.")
	}
	return data, nil
}

// timeClaims are the claims shown with their time as well as their number.
var timeClaims = map[string]bool{"exp": true, "nbf": true, "iat": true, "auth_time": true, "lease": true}

// printTokenReport writes the header, the claims, then one line per step.
func printTokenReport(w io.Writer, rep *doctor.TokenReport, keysGiven bool) {
	if rep.Header != nil {
		printMembers(w, "header", rep.Header)
		printMembers(w, "claims", rep.Claims)
		fmt.Fprintln(w)
	}
	failed := 0
	for _, s := range rep.Steps {
		status := string(s.Status)
		switch s.Status {
		case doctor.Fail:
			status, failed = "FAIL", failed+1
		case doctor.Warn:
			status = "WARN"
		}
		found := s.Found
		if s.Code != 0 {
			found = fmt.Sprintf("code=%d %s: %s", s.Code, codes.Code(s.Code).Name(), s.Found)
		}
		fmt.Fprintf(w, "%-4s  %-10s  %s\n", status, s.Name, found)
		for _, d := range s.Details {
			fmt.Fprintf(w, "      %s\n", d)
		}
		if s.Fix != "" && (s.Status == doctor.Fail || s.Status == doctor.Warn) {
			fmt.Fprintf(w, "      fix: %s\n", s.Fix)
		}
	}
	fmt.Fprintln(w)
	switch {
	case failed > 0:
		fmt.Fprintf(w, "token is NOT valid: %d step(s) failed\n", failed)
	case !keysGiven:
		fmt.Fprintln(w, "token passes the checks made, but its signature was not checked (no --jwks): anyone could have written it")
	default:
		fmt.Fprintln(w, "token is valid")
	}
}

// printMembers writes a JSON object's members one a line, values as JSON
// (which escapes control characters a hostile token might carry).
func printMembers(w io.Writer, title string, m map[string]any) {
	fmt.Fprintf(w, "%s:\n", title)
	for _, k := range doctor.SortedKeys(m) {
		v, _ := json.Marshal(m[k])
		val := string(v)
		if len(val) > 200 {
			val = fmt.Sprintf("%s…(%d bytes)", val[:200], len(val))
		}
		if timeClaims[k] {
			if tm, ok, err := doctor.NumericDate(m[k]); ok && err == nil && !tm.Equal(time.Unix(0, 0)) {
				val += " (" + tm.Format(time.RFC3339) + ")"
			}
		}
		name, _ := json.Marshal(k)
		fmt.Fprintf(w, "  %-10s %s\n", strings.Trim(string(name), `"`)+":", val)
	}
}
