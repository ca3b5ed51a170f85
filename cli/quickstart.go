package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/atomicfile"
	"github.com/licensor/licensor/keys"
)

// DefaultQuickstartProduct is the product a quickstart license carries.
const DefaultQuickstartProduct = "demo:instances=10,qps=0,days=30,functions=basic|export"

func init() {
	register(&command{
		name:    "quickstart",
		summary: "set up a local vendor and site on embedded defaults",
		help: `Usage: licensor quickstart [--dir DIR] [--holder NAME] [--product SPEC…] [--setup-only] [--json]

Plays both parts on this one host: creates a vendor key (kept if DIR has
one), the site server's key and activation request for this machine, and a
license for it, verified before the command returns. Prints what to run
next; --json prints the paths of everything written, with stable keys
(vendor_private_key, vendor_public_key, vendor_key_id, data_dir,
server_private_key, server_public_key, activation_request, license,
machine_code). --setup-only writes the files and exits.`,
		setup: func(fs *flag.FlagSet) runFunc {
			dir := fs.String("dir", "licensor-quickstart", "directory to set up in")
			holder := fs.String("holder", "Quickstart Site", "the license holder")
			var products stringList
			fs.Var(&products, "product", "a product SPEC (repeatable; default "+DefaultQuickstartProduct+")")
			fs.Bool("setup-only", false, "write the files and exit")
			asJSON := fs.Bool("json", false, "print the paths written as JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("quickstart takes no arguments")
				}
				if len(products) == 0 {
					products = stringList{DefaultQuickstartProduct}
				}
				q, err := e.quickstart(*dir, *holder, products)
				if err != nil {
					return err
				}
				if *asJSON {
					return e.writeJSON(q)
				}
				printQuickstart(e, q)
				return nil
			}
		},
	})
}

// quickstartFiles is what quickstart wrote; the JSON keys are stable.
type quickstartFiles struct {
	Dir               string   `json:"dir"`
	VendorPrivateKey  string   `json:"vendor_private_key"`
	VendorPublicKey   string   `json:"vendor_public_key"`
	VendorKeyID       string   `json:"vendor_key_id"`
	DataDir           string   `json:"data_dir"`
	ServerPrivateKey  string   `json:"server_private_key"`
	ServerPublicKey   string   `json:"server_public_key"`
	ActivationRequest string   `json:"activation_request"`
	License           string   `json:"license"`
	MachineCode       string   `json:"machine_code"`
	Products          []string `json:"products"`
}

func (e *Env) quickstart(dir, holder string, products []string) (*quickstartFiles, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, codes.Errorf(codes.InvalidArgument, "--dir %q: %v", dir, err)
	}
	q := &quickstartFiles{
		Dir:               abs,
		VendorPrivateKey:  filepath.Join(abs, "vendor", "vendor.key"),
		VendorPublicKey:   filepath.Join(abs, "vendor", "vendor.pub"),
		DataDir:           filepath.Join(abs, "data"),
		ActivationRequest: filepath.Join(abs, "request.json"),
		License:           filepath.Join(abs, "site.lic"),
	}
	q.ServerPrivateKey = filepath.Join(q.DataDir, serverKeyFile)
	q.ServerPublicKey = keys.PublicPath(q.ServerPrivateKey)

	// The vendor key: kept when present, so licenses already issued stay good.
	if _, err := os.Stat(q.VendorPrivateKey); err != nil {
		if _, err := generateKeys(filepath.Dir(q.VendorPrivateKey), "vendor"); err != nil {
			return nil, err
		}
	}
	vendorPub, err := keys.LoadPublic(q.VendorPublicKey)
	if err != nil {
		return nil, err
	}
	q.VendorKeyID = keys.ID(vendorPub)

	// The site: its key and activation request.
	req, _, err := e.activationRequest(q.DataDir)
	if err != nil {
		return nil, err
	}
	q.MachineCode = req.MachineCode
	b, _ := json.MarshalIndent(req, "", "  ")
	if err := atomicfile.WriteFile(q.ActivationRequest, append(b, '\n'), 0o644); err != nil {
		return nil, codes.Errorf(codes.FileMissing, "cannot write the activation request: %w", err)
	}

	// The vendor issues; the site verifies.
	l, file, _, err := e.issue(issueOptions{
		key: q.VendorPrivateKey, request: q.ActivationRequest, holder: holder, issuer: "quickstart vendor",
		products: products, match: -1, out: q.License,
	})
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(q.License, file, 0o644); err != nil {
		return nil, codes.Errorf(codes.FileMissing, "cannot write the license: %w", err)
	}
	q.Products = l.Subjects()
	if r := e.verifyLicense(q.License, vendorPub, true, ""); r.err != nil {
		return nil, fmt.Errorf("the quickstart license does not verify on this host: %w", r.err)
	}
	return q, nil
}

func printQuickstart(e *Env, q *quickstartFiles) {
	w := e.Stdout
	fmt.Fprintf(w, "licensor quickstart in %s\n\n", q.Dir)
	fmt.Fprintf(w, "  vendor key        %s (id %s)\n", q.VendorPrivateKey, q.VendorKeyID)
	fmt.Fprintf(w, "  vendor public key %s\n", q.VendorPublicKey)
	fmt.Fprintf(w, "  site data         %s (server key %s)\n", q.DataDir, q.ServerPrivateKey)
	fmt.Fprintf(w, "  request           %s (machine %s)\n", q.ActivationRequest, q.MachineCode)
	fmt.Fprintf(w, "  license           %s (verified on this host)\n\n", q.License)
	fmt.Fprintf(w, "Next:\n")
	fmt.Fprintf(w, "  licensor license show %s --vendor-pub %s\n", q.License, q.VendorPublicKey)
	fmt.Fprintf(w, "  licensor license verify %s --vendor-pub %s --this-machine --product %s\n", q.License, q.VendorPublicKey, q.Products[0])
	fmt.Fprintf(w, "  licensor explain --all\n")
}
