package cli

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/atomicfile"
	"github.com/licensor/licensor/internal/readfile"
	"github.com/licensor/licensor/internal/unwritable"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

func init() {
	register(&command{
		name:    "issue",
		summary: "sign a license for a site (vendor)",
		help: `Usage: licensor issue --key vendor.key --holder NAME --product SPEC [--product SPEC…] --out site.lic
                      (--request req.json [--request req.json…] | --machine CODE [--machine CODE…] --server-key server.pub)
                      [--keyfile-host CODE…] [--keyfile-validity DURATION]
                      [--binding machine|token|machine+token] [--token-serial]

Signs a license with the vendor key, bound to the machine(s) and site
server key of an activation request (or given directly), and writes it
atomically to --out. SPEC is

  SUBJECT:instances=N,qps=Q,not-before=DATE,not-after=DATE,functions=a|b

DATE is YYYY-MM-DD (UTC; not-after runs to the end of that day) or RFC 3339;
days=N may replace not-after. instances defaults to 1, qps to 0 (no QPS
control), not-before to now.

With --request, the license records the machine's component hashes and
accepts the host while --match of them still match (default: all but one
when four or more were recorded); with --machine alone only the exact code
matches.

A cluster license, for several site servers sharing one pool: give
--request once per node (at most 16), each made by 'licensor
activation-request' in that node's own data directory. The license names
every node: its machine and its own server key, so one node's key can be
replaced without the others (issue the license again with that node's new
request). Two nodes may share a machine (two ports on one host), never a
server key. A server starts only as a node the license names, and products
accept what any named node signs. One --request issues a single-server
license, as before.

--keyfile-host (repeatable, at most 500) names the hosts the site server
may issue offline key files to, by their machine codes ('licensor
fingerprint' on each host); the server refuses any other host with code
527. Without it, any host with a renew certificate gets one.
--keyfile-validity (whole hours, 1h..2160h) is how long each key file is
valid; without it, the server's keyfile_validity (168h by default) counts.

A hardware token: when the activation request was made with --token-module
(it then names a token key's thumbprint and the token's serial), the
license binds that key too. --binding says what the site server must
prove: machine+token (the default for such a request: its machine and the
token's presence), token (the token alone: the server may move to any
machine while the token goes with it) or machine (the token is ignored).
--token-serial also binds the token's serial, so a copy of the key on
another token is refused. See "Hardware tokens" in the README.`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o issueOptions
			fs.StringVar(&o.key, "key", "", "the vendor's private key file")
			fs.Var(&o.requests, "request", "a site server's activation `FILE` (JSON; once per node for a cluster license)")
			fs.Var(&o.machines, "machine", "a machine code to bind to (repeatable)")
			fs.StringVar(&o.serverKey, "server-key", "", "the site server's public key file (with --machine)")
			fs.StringVar(&o.holder, "holder", "", "the customer the license is for")
			fs.StringVar(&o.issuer, "issuer", "vendor", "who issues the license")
			fs.Var(&o.products, "product", "a product SPEC (repeatable)")
			fs.IntVar(&o.match, "match", -1, "how many machine components must match (0: all)")
			fs.StringVar(&o.out, "out", "", "where to write the license file")
			fs.Var(&o.keyFileHosts, "keyfile-host", "a host's machine `CODE` that may hold key files (repeatable)")
			fs.DurationVar(&o.keyFileValidity, "keyfile-validity", 0, "how long each key file is valid: a `DURATION` in whole hours, 1h..2160h")
			fs.StringVar(&o.binding, "binding", "", "what the server must prove: `machine`, token or machine+token (default: machine+token when the request names a token)")
			fs.BoolVar(&o.tokenSerial, "token-serial", false, "also bind the token's serial number")
			asJSON := fs.Bool("json", false, "print the license as JSON after writing it")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("issue takes no arguments, only flags")
				}
				l, file, kid, err := e.issue(o)
				if err != nil {
					return err
				}
				if err := atomicfile.WriteFile(o.out, file, 0o644); err != nil {
					return unwritable.File{Path: o.out, Noun: "license", By: "'licensor issue'"}.Error(err)
				}
				if *asJSON {
					return e.writeJSON(l.View(kid))
				}
				fmt.Fprintf(e.Stdout, "wrote %s: license %s for %s\n", o.out, l.ID, l.Holder)
				for _, n := range l.Cluster {
					fmt.Fprintf(e.Stdout, "  node %s: machine %s, server key %s\n", n.Name, n.Code, n.KeyID())
				}
				for _, p := range l.Products {
					fmt.Fprintf(e.Stdout, "  %s: instances=%d qps=%d %s .. %s UTC\n", p.Subject, p.InstanceSize, p.QPS, license.FormatTime(p.NotBefore), license.FormatTime(p.NotAfter))
				}
				if l.KeyFile != nil {
					fmt.Fprintf(e.Stdout, "  key files: %s\n", keyFilePolicyText(l.KeyFile))
				}
				if l.Token != nil {
					fmt.Fprintf(e.Stdout, "  binding: %s; %s\n", l.Binding(), l.Token.Describe())
				}
				return nil
			}
		},
	})
}

type issueOptions struct {
	key, serverKey, holder, issuer, out        string
	requests, machines, products, keyFileHosts stringList
	match                                      int
	keyFileValidity                            time.Duration
	binding                                    string
	tokenSerial                                bool
}

// issue builds and signs a license from o; it returns the license, its
// file and the id of the vendor key that signed it.
func (e *Env) issue(o issueOptions) (l *license.License, file []byte, vendorKeyID string, err error) {
	switch {
	case o.key == "":
		return nil, nil, "", usageErrorf("issue needs --key vendor.key")
	case o.holder == "":
		return nil, nil, "", usageErrorf("issue needs --holder NAME")
	case len(o.products) == 0:
		return nil, nil, "", usageErrorf("issue needs at least one --product SPEC")
	case o.out == "":
		return nil, nil, "", usageErrorf("issue needs --out FILE")
	case len(o.requests) > 0 && (len(o.machines) > 0 || o.serverKey != ""):
		return nil, nil, "", usageErrorf("give --request, or --machine with --server-key, not both")
	case len(o.requests) == 0 && (len(o.machines) == 0 || o.serverKey == ""):
		return nil, nil, "", usageErrorf("issue needs --request FILE, or --machine CODE with --server-key FILE")
	case len(o.requests) > license.MaxNodes:
		return nil, nil, "", codes.Errorf(codes.InvalidArgument, "%d --request flags; a cluster license names at most %d nodes", len(o.requests), license.MaxNodes)
	}
	if err := license.ValidText(o.holder); err != nil {
		return nil, nil, "", codes.Errorf(codes.InvalidArgument, "--holder: %v", err)
	}
	if err := license.ValidText(o.issuer); err != nil || o.issuer == "" {
		return nil, nil, "", codes.Errorf(codes.InvalidArgument, "--issuer must be 1 to 128 printable bytes")
	}
	// The command line first: a mistake in it (exit 2) is reported before
	// any file is read, so a missing file (exit 1) does not hide it.
	now := e.Clock.Now()
	l = &license.License{Holder: o.holder, Issuer: o.issuer, Issued: now}
	for _, spec := range o.products {
		p, err := license.ParseProductSpec(spec, now)
		if err != nil {
			return nil, nil, "", err
		}
		l.Products = append(l.Products, p)
	}
	for _, m := range o.machines {
		if !fingerprint.ValidCode(m) {
			return nil, nil, "", codes.Errorf(codes.InvalidArgument, "--machine %q is not a machine code: it is the 32 hex digits on the first line of 'licensor fingerprint'", m)
		}
	}
	if l.KeyFile, err = keyFilePolicy(o); err != nil {
		return nil, nil, "", err
	}
	switch o.binding {
	case "", license.BindMachine, license.BindToken, license.BindMachineToken:
	default:
		return nil, nil, "", usageErrorf("--binding %q: use machine, token or machine+token", o.binding)
	}
	if o.binding == license.BindMachine && o.tokenSerial {
		return nil, nil, "", usageErrorf("--token-serial binds a token's serial, and --binding machine binds no token: give one of them")
	}
	if (o.binding == license.BindToken || o.binding == license.BindMachineToken || o.tokenSerial) && len(o.requests) != 1 {
		return nil, nil, "", usageErrorf("--binding %s and --token-serial need one --request made with --token-module: a token is bound through its activation request", o.binding)
	}
	vendor, err := keys.LoadPrivate(o.key)
	if err != nil {
		return nil, nil, "", err
	}
	switch {
	case len(o.requests) == 1:
		req, err := readRequest(o.requests[0])
		if err != nil {
			return nil, nil, "", err
		}
		l.Machines = []fingerprint.Machine{req.Machine()}
		l.ServerKey = req.ServerKey
		if err := bindToken(l, req, o); err != nil {
			return nil, nil, "", err
		}
	case len(o.requests) > 1:
		if l.Cluster, err = clusterNodes(o.requests); err != nil {
			return nil, nil, "", err
		}
	default:
		for _, m := range o.machines {
			l.Machines = append(l.Machines, fingerprint.Machine{Code: m})
		}
		pub, err := keys.LoadPublic(o.serverKey)
		if err != nil {
			return nil, nil, "", err
		}
		l.ServerKey = keys.PublicJWK(pub)
	}
	l.MatchMin = o.match
	if o.match < 0 {
		l.MatchMin = defaultMatch(l.Nodes())
	}
	file, err = license.Sign(l, vendor)
	if err != nil {
		return nil, nil, "", err
	}
	return l, file, keys.ID(vendor.Public().(ed25519.PublicKey)), nil
}

// bindToken binds the token of req as o asks.
func bindToken(l *license.License, req *license.Request, o issueOptions) error {
	switch {
	case o.binding == license.BindMachine:
		return nil
	case req.Token == nil && o.binding == "" && !o.tokenSerial:
		return nil
	case req.Token == nil:
		return codes.Errorf(codes.InvalidArgument, "the activation request %s names no hardware token: make it with 'licensor activation-request --token-module M --token-label L' on the site server host", o.requests[0])
	}
	l.Token = req.Token.Binding(o.tokenSerial)
	l.Bind = o.binding
	if l.Bind == "" {
		l.Bind = license.BindMachineToken
	}
	return nil
}

func readRequest(path string) (*license.Request, error) {
	data, err := readfile.Limited(path, license.MaxRequestSize, "activation request")
	if err != nil {
		return nil, err
	}
	req, err := license.ParseRequest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return req, nil
}

// clusterNodes reads one activation request per node of a cluster
// license; two requests with one server key are refused, naming both.
func clusterNodes(paths []string) ([]license.Node, error) {
	var nodes []license.Node
	seen := map[string]string{} // server key id -> request file
	for _, path := range paths {
		req, err := readRequest(path)
		if err != nil {
			return nil, err
		}
		n := license.Node{Name: req.Hostname, Machine: req.Machine(), ServerKey: req.ServerKey}
		kid := n.KeyID()
		if first, dup := seen[kid]; dup {
			return nil, codes.Errorf(codes.InvalidArgument, "--request %s has the server key %s of --request %s: every node of a cluster signs with its own key", path, kid, first).
				WithFix("Make each node's request in its own data directory ('licensor activation-request --data DIR' on that node), or give each request once.")
		}
		seen[kid] = path
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// defaultMatch tolerates one changed component when a machine recorded
// four or more, and none otherwise.
func defaultMatch(ms []license.Node) int {
	n := 0
	for _, m := range ms {
		n = max(n, len(m.Components))
	}
	if n >= 4 {
		return n - 1
	}
	return 0
}

// keyFilePolicy builds the license's key-file policy from the flags; nil
// when neither flag is given.
func keyFilePolicy(o issueOptions) (*license.KeyFilePolicy, error) {
	if len(o.keyFileHosts) == 0 && o.keyFileValidity == 0 {
		return nil, nil
	}
	p := &license.KeyFilePolicy{}
	if len(o.keyFileHosts) > license.MaxKeyFileHosts {
		return nil, codes.Errorf(codes.InvalidArgument, "%d --keyfile-host flags; a license names at most %d key-file hosts", len(o.keyFileHosts), license.MaxKeyFileHosts)
	}
	seen := map[string]bool{}
	for _, h := range o.keyFileHosts {
		if !fingerprint.ValidCode(h) {
			return nil, codes.Errorf(codes.InvalidArgument, "--keyfile-host %q is not a machine code: it is the 32 hex digits on the first line of 'licensor fingerprint' on that host", h)
		}
		if seen[h] {
			return nil, codes.Errorf(codes.InvalidArgument, "--keyfile-host %s is given twice", h)
		}
		seen[h] = true
		p.Hosts = append(p.Hosts, h)
	}
	if d := o.keyFileValidity; d != 0 {
		if d%time.Hour != 0 || d < license.MinKeyFileValidity || d > license.MaxKeyFileValidity {
			return nil, codes.Errorf(codes.InvalidArgument, "--keyfile-validity %s: give whole hours from 1h to 2160h (90 days), e.g. 72h", d)
		}
		p.ValidityHours = int(d / time.Hour)
	}
	return p, nil
}

// keyFilePolicyText describes a key-file policy on one line.
func keyFilePolicyText(p *license.KeyFilePolicy) string {
	hosts := "any host with a renew certificate"
	if p.Restricted() {
		hosts = fmt.Sprintf("%d named hosts", len(p.Hosts))
		if len(p.Hosts) == 1 {
			hosts = "1 named host"
		}
	}
	validity := "the server's keyfile_validity"
	if h := p.ValidityHours; h > 0 {
		validity = fmt.Sprintf("%dh", h)
		if h%24 == 0 {
			validity = fmt.Sprintf("%dh (%d days)", h, h/24)
		}
	}
	return hosts + ", valid " + validity
}
