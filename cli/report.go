package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/atomicfile"
	"github.com/licensor/licensor/internal/readfile"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/internal/transport"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/report"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/store"
)

func init() {
	register(&command{
		name:    "report",
		summary: "usage per product and period: peaks, averages, time at the limit, denials; signed for the vendor",
		help: `Usage: licensor report (--data DIR | --config FILE | --server URL --ca FILE --cert FILE --key FILE)
         [--from DATE] [--to DATE] [--product P] [--by hour|day|month] [--format table|csv|json]
         [--signed] [--out FILE] [--license FILE]

Computes, from the site server's audit log, per product and period:
  peak        the most seats held at once: instance seats, key-file
              seats, and both together
  average     the seats held on average over the period (seat-time
              divided by the period's length), each kind apart
  at limit    how long the pool held its licensed limit of seats
  denied      denials by code; 501 (instance_limit) is demand the
              license did not meet
  instances   distinct instance ids that held a seat
  hosts       distinct hosts that held a seat: an instance's client
              certificate, a key-file host's machine code
  qps         the highest and the average rate of calls sampled in a
              minute (summed over the nodes), against the licensed QPS,
              for products with QPS control
with a total line per product. Times are UTC. --from and --to take a
date (YYYY-MM-DD, a whole day: --to 2026-01-31 includes that day) or an
RFC 3339 time; the default is the 30 days up to now. --format csv has
one row per product and period, then a "total" row; json is the
report's documented fields (durations in nanoseconds).

Where: --data reads the SQLite store in a data directory; --config reads
the store the server's configuration names (PostgreSQL included) and
takes the license in force from it; --server asks a running site server
(the admin API, a client certificate with the admin role). A local
report may run while the server runs. A seat whose lease lapsed while no
server ran is ended when the server next starts, and counts until then.

--signed writes a usage report for the vendor (a true-up): the report,
the license, and where each node's audit chain stood at the period's
start and end, signed with the site server's key. The audit log must
cover the period (code 1004) and verify over it (code 702). Locally it
is signed with the server key in the data directory and needs the
license file (--config names it, or --license); through --server the
server signs. Send the file to the vendor as it is: the vendor checks it
with 'licensor report verify'. Reports of consecutive periods share
their boundary: ask for the next period from the previous one's end.`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o reportFlags
			o.register(fs)
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("report takes no arguments (did you mean 'licensor report verify FILE'?)")
				}
				return o.run(ctx, e)
			}
		},
	})
	register(&command{
		name:    "report verify",
		summary: "check a signed usage report (the vendor side)",
		help: `Usage: licensor report verify FILE --vendor-pub FILE [--license FILE] [--previous FILE] [--json]

Checks a signed usage report a site sent ('licensor report --signed'):
the license it carries verifies with the vendor key (and is the one
--license gives, when given); the report is signed by a server key that
license trusts (any node of a cluster license); not a byte was edited;
the audit log covered the whole period, which ended before it was
signed; the audit chain positions hold together; and, with --previous
(the report of the period before), that it starts where the previous one
ended, on every node's chain, so that no events were cut or rewritten in
between. Prints the license, the server key, the period, the chain
positions, then the figures. A refusal prints its code and fix: 1001
malformed or edited, 1002 bad signature, 1003 signed by a server the
license does not trust, 1004 a period the log does not cover, 1005 a
gap in the chain.`,
		setup: func(fs *flag.FlagSet) runFunc {
			vendorPub := fs.String("vendor-pub", "", "the vendor's public key file")
			licFile := fs.String("license", "", "the license file issued to the site: the report must carry it")
			previous := fs.String("previous", "", "the signed report of the period before")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) != 1 {
					return usageErrorf("report verify takes one signed report file")
				}
				if *vendorPub == "" {
					return usageErrorf("report verify needs --vendor-pub FILE")
				}
				v, prev, err := verifyReport(args[0], *vendorPub, *licFile, *previous)
				if *asJSON {
					out := map[string]any{"valid": err == nil, "file": args[0], "error": errorObject(err)}
					if err == nil {
						out["license_id"], out["holder"], out["server_key"] = v.License.ID, v.License.Holder, v.KeyID
						out["from"], out["to"], out["signed"], out["log_start"] = v.Report.From, v.Report.To, v.Signed, v.LogStart
						out["chains"], out["report"] = v.Chains, v.Report
						if prev != "" {
							out["previous"] = prev
						}
					}
					return e.writeOutcome(out, err)
				}
				if err != nil {
					return err
				}
				w := e.Stdout
				fmt.Fprintf(w, "usage report %s verifies\n", args[0])
				fmt.Fprintf(w, "  license  %s for %s, issued by %s; signed by the vendor key given\n", v.License.ID, v.License.Holder, v.License.Issuer)
				fmt.Fprintf(w, "  server   key %s, trusted by the license for %s\n", v.KeyID, nodeLabels(v.License, v.KeyID))
				fmt.Fprintf(w, "  period   %s to %s (by %s), signed %s\n", v.Report.From.Format(time.RFC3339), v.Report.To.Format(time.RFC3339),
					v.Report.By, v.Signed.Format(time.RFC3339))
				fmt.Fprintf(w, "  log      starts %s\n", v.LogStart.Format(time.RFC3339))
				printChains(w, v.Chains)
				if prev != "" {
					fmt.Fprintf(w, "  previous continues %s: every chain starts where it ended\n", prev)
				}
				fmt.Fprintln(w)
				return report.WriteTable(w, v.Report)
			}
		},
	})
}

// reportFlags are the flags of licensor report.
type reportFlags struct {
	client                     clientFlags
	data, config               string
	from, to, product, by, fmt string
	signed                     bool
	out, license               string
}

func (o *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.data, "data", "", "the site server's data directory (its SQLite store)")
	fs.StringVar(&o.config, "config", "", "the site server's configuration file")
	o.client.register(fs)
	fs.StringVar(&o.from, "from", "", "the first day (YYYY-MM-DD) or time (RFC 3339); default 30 days before --to")
	fs.StringVar(&o.to, "to", "", "the last day (YYYY-MM-DD, included) or the end time (RFC 3339); default now")
	fs.StringVar(&o.product, "product", "", "report only this product")
	fs.StringVar(&o.by, "by", "day", "the period: hour, day or month")
	fs.StringVar(&o.fmt, "format", "table", "table, csv or json")
	fs.BoolVar(&o.signed, "signed", false, "write a report signed by the site server for the vendor (JSON)")
	fs.StringVar(&o.out, "out", "", "write the report to this file instead of printing it")
	fs.StringVar(&o.license, "license", "", "the license file (local reports; --config names it)")
}

// check reads the flags that do not need a store: the query and where.
func (o *reportFlags) check() (report.Query, error) {
	var q report.Query
	where := 0
	for _, s := range []string{o.data, o.config, o.client.server} {
		if s != "" {
			where++
		}
	}
	if where != 1 {
		return q, usageErrorf("report needs one of --data DIR, --config FILE or --server URL")
	}
	if o.client.server == "" {
		for _, f := range []struct{ name, v string }{{"--ca", o.client.ca}, {"--cert", o.client.cert}, {"--key", o.client.key}} {
			if f.v != "" {
				return q, usageErrorf("%s goes with --server", f.name)
			}
		}
	} else if o.license != "" {
		return q, usageErrorf("--license is for local reports: through --server, the server reports against its license in force")
	}
	switch o.fmt {
	case "table", "csv", "json":
	default:
		return q, usageErrorf("--format %q: want table, csv or json", o.fmt)
	}
	if o.signed && o.fmt != "table" && o.fmt != "json" {
		return q, usageErrorf("--signed writes JSON; leave --format out")
	}
	var err error
	if q.From, err = report.ParseTime(o.from, false); err != nil {
		return q, codes.Errorf(codes.InvalidArgument, "--from: %v", err)
	}
	if q.To, err = report.ParseTime(o.to, true); err != nil {
		return q, codes.Errorf(codes.InvalidArgument, "--to: %v", err)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, codes.Errorf(codes.InvalidArgument, "--from %s is not before --to %s", o.from, o.to)
	}
	if err := report.CheckBy(o.by); err != nil {
		return q, codes.Errorf(codes.InvalidArgument, "--%v", err)
	}
	q.Product, q.By = o.product, o.by
	return q, nil
}

func (o *reportFlags) run(ctx context.Context, e *Env) error {
	q, err := o.check()
	if err != nil {
		return err
	}
	if o.client.server != "" {
		return o.remote(ctx, e, q)
	}
	return o.local(ctx, e, q)
}

// remote fetches the report from the admin API.
func (o *reportFlags) remote(ctx context.Context, e *Env, q report.Query) error {
	c, err := o.client.client(e)
	if err != nil {
		return err
	}
	v := url.Values{"by": {q.By}}
	if o.from != "" {
		v.Set("from", o.from)
	}
	if o.to != "" {
		v.Set("to", o.to)
	}
	if q.Product != "" {
		v.Set("product", q.Product)
	}
	switch {
	case o.signed:
		v.Set("signed", "1")
	case o.fmt == "csv":
		v.Set("format", "csv")
	}
	data, err := c.getRaw(ctx, api.PathReport+"?"+v.Encode())
	if err != nil {
		return err
	}
	if o.signed {
		return o.writeSigned(e, data)
	}
	if o.fmt == "csv" {
		return o.write(e, data)
	}
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return codes.Errorf(codes.Protocol, "GET %s%s: the answer is not a usage report: %v", c.base, api.PathReport, err)
	}
	return o.format(e, &r)
}

// local reads the store itself.
func (o *reportFlags) local(ctx context.Context, e *Env, q report.Query) error {
	var setting storeopen.Setting
	licPath, vendorPath := o.license, ""
	if o.config != "" {
		cfg, err := loadServerConfig(o.config)
		if err != nil {
			return err
		}
		setting = storeSetting(cfg)
		setting.ReadOnly = true
		if licPath == "" {
			licPath = cfg.License
		}
		vendorPath = cfg.VendorPublicKey
	} else {
		setting = storeopen.Setting{DataDir: o.data}
	}
	if o.signed && licPath == "" {
		return usageErrorf("report --signed --data needs --license FILE: the license the report is made under (or --config)")
	}
	var signed *license.Signed
	if licPath != "" {
		var err error
		if signed, q.License, err = readLicense(licPath, vendorPath); err != nil {
			return err
		}
	}
	var key ed25519.PrivateKey
	if o.signed {
		keyPath := filepath.Join(setting.DataDir, server.ServerKeyFile)
		var err error
		if key, err = keys.LoadPrivate(keyPath); err != nil {
			return err
		}
		kid := keys.ID(key.Public().(ed25519.PublicKey))
		if _, ok := q.License.NodeKey(kid); !ok {
			return codes.Errorf(codes.ReportWrongServer, "the server key %s (%s) is not one license %s trusts (%s): the vendor would refuse the report",
				kid, keyPath, q.License.ID, strings.Join(q.License.ServerKeyIDs(), ", ")).
				WithFix("Run the report where the licensed server keeps its data (its data_dir), with the license in force there.")
		}
	}
	st, err := storeopen.OpenExisting(ctx, setting)
	if err != nil {
		return err
	}
	defer st.Close()
	src, ok := st.(report.Source)
	if !ok {
		return codes.Errorf(codes.StoreUnavailable, "this store keeps no usage summaries")
	}
	q.Now = e.Clock.Now()
	if o.signed {
		file, err := report.BuildSigned(ctx, src, q, report.SignOptions{Key: key, License: signed.Compact})
		if err != nil {
			return localReportError(err)
		}
		return o.writeSigned(e, file)
	}
	r, err := report.Build(ctx, src, q)
	if err != nil {
		return localReportError(err)
	}
	if cs, ok := st.(store.Cluster); ok {
		r.Node = cs.Node()
	}
	return o.format(e, r)
}

// readLicense reads a license file, verified with the vendor key when
// one is known (the server's configuration names it).
func readLicense(path, vendorPath string) (*license.Signed, *license.License, error) {
	data, err := license.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	signed, err := license.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if vendorPath == "" {
		l, err := signed.Unverified()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return signed, l, nil
	}
	pub, err := keys.LoadPublic(vendorPath)
	if err != nil {
		return nil, nil, err
	}
	l, err := signed.Verify(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return signed, l, nil
}

// localReportError gives a failure without a code the store's.
func localReportError(err error) error {
	if codes.Of(err) != codes.Unknown {
		return err
	}
	return codes.Errorf(codes.StoreUnavailable, "cannot read the audit log: %w", err)
}

// format prints or writes r as --format says.
func (o *reportFlags) format(e *Env, r *report.Report) error {
	var b bytes.Buffer
	var err error
	switch o.fmt {
	case "csv":
		err = report.WriteCSV(&b, r)
	case "json":
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	default:
		err = report.WriteTable(&b, r)
	}
	if err != nil {
		return err
	}
	return o.write(e, b.Bytes())
}

// write prints data, or writes it to --out.
func (o *reportFlags) write(e *Env, data []byte) error {
	if o.out == "" {
		_, err := e.Stdout.Write(data)
		return err
	}
	if err := atomicfile.WriteFile(o.out, data, 0o644); err != nil {
		return codes.Errorf(codes.FileMissing, "cannot write %s: %w", o.out, err)
	}
	fmt.Fprintf(e.Stdout, "wrote %s\n", o.out)
	return nil
}

// writeSigned writes a signed report and says what it holds.
func (o *reportFlags) writeSigned(e *Env, file []byte) error {
	var f report.File
	var p report.Payload
	if err := json.Unmarshal(file, &f); err != nil || json.Unmarshal(f.Payload, &p) != nil || p.Report == nil {
		return codes.Errorf(codes.Protocol, "the signed report is not one: %v", err)
	}
	if o.out == "" {
		_, err := e.Stdout.Write(file)
		return err
	}
	if err := atomicfile.WriteFile(o.out, file, 0o644); err != nil {
		return codes.Errorf(codes.FileMissing, "cannot write %s: %w", o.out, err)
	}
	fmt.Fprintf(e.Stdout, "wrote %s: usage from %s to %s (by %s) under license %s, signed %s\n", o.out,
		p.Report.From.Format(time.RFC3339), p.Report.To.Format(time.RFC3339), p.Report.By, p.Report.LicenseID, p.Signed.Format(time.RFC3339))
	printChains(e.Stdout, p.Chains)
	fmt.Fprintf(e.Stdout, "Send it to the vendor as it is: 'licensor report verify %s --vendor-pub VENDOR.pub' checks it.\n", filepath.Base(o.out))
	return nil
}

func printChains(w io.Writer, chains []report.Chain) {
	for _, c := range chains {
		node := "audit chain"
		if c.Node != "" {
			node = "node " + c.Node
		}
		span := "no events"
		if c.End.Seq > c.Start.Seq {
			span = fmt.Sprintf("events %d to %d", c.Start.Seq+1, c.End.Seq)
		}
		fmt.Fprintf(w, "  chain    %s: %s (start %s, end %s)\n", node, span, position(c.Start), position(c.End))
	}
}

func position(p report.Position) string {
	if p.Seq == 0 {
		return "before the first event"
	}
	return fmt.Sprintf("%d %.12s…", p.Seq, p.Hash)
}

// nodeLabels names the license's nodes that sign with key kid.
func nodeLabels(l *license.License, kid string) string {
	var out []string
	for _, n := range l.Nodes() {
		if n.KeyID() == kid {
			out = append(out, n.Label())
		}
	}
	if len(out) == 0 {
		return "no node"
	}
	return strings.Join(out, ", ")
}

// verifyReport reads and checks a signed report, and the previous one
// when given. It returns the previous file's name when it was checked.
func verifyReport(path, vendorPath, licPath, prevPath string) (*report.Verified, string, error) {
	pub, err := keys.LoadPublic(vendorPath)
	if err != nil {
		return nil, "", err
	}
	o := report.VerifyOptions{VendorKey: pub}
	if licPath != "" {
		if o.License, err = license.ReadFile(licPath); err != nil {
			return nil, "", err
		}
	}
	if prevPath != "" {
		data, err := readfile.Limited(prevPath, report.MaxSignedSize, "previous report")
		if err != nil {
			return nil, "", err
		}
		// The previous period may be under an earlier license: it is
		// checked against the vendor key only.
		prev, err := report.ReadSigned(data, report.VerifyOptions{VendorKey: pub})
		if err != nil {
			ce := codes.As(err)
			return nil, "", codes.Errorf(ce.Code, "the previous report %s: %s", prevPath, ce.Detail())
		}
		o.Previous = &prev.Payload
	}
	data, err := readfile.Limited(path, report.MaxSignedSize, "signed report")
	if err != nil {
		return nil, "", err
	}
	v, err := report.ReadSigned(data, o)
	if err != nil {
		return nil, "", err
	}
	if prevPath == "" {
		return v, "", nil
	}
	return v, prevPath, nil
}

// getRaw fetches path and returns the body of a 200 answer; an error body
// becomes its *codes.Error.
func (c *siteClient) getRaw(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, codes.Errorf(codes.InvalidArgument, "%v", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.classify(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, report.MaxSignedSize))
	if err != nil {
		return nil, c.classify(err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, transport.ErrorFromBody("GET "+c.base+path, resp.StatusCode, data)
	}
	return data, nil
}
