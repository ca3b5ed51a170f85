package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
)

func init() {
	register(&command{
		name:    "fingerprint",
		summary: "print this host's machine code",
		help: `Usage: licensor fingerprint [--json]

Prints this host's machine code: the first line is the 32-hex code to send
to the vendor; below it the components it was made from, each hashed (no
raw serial number leaves the machine):

  machine-id    /etc/machine-id (systemd's installation id)
  product-uuid  /sys/class/dmi/id/product_uuid (the firmware's system UUID;
                readable by root only, so run as root for the strongest code)
  mac           MAC addresses of physical network cards
  root-disk     the root file system's UUID, else its disk's serial
  hostname      the host name

A license says how many components must still match, so one changed part
(a new network card) does not stop the site. Inside a container or a VM,
the code is only as stable as the container's or VM's identity; the output
warns about it. Run the site server on the host, or keep /etc/machine-id
and the DMI files of the host mounted read-only into the container.`,
		setup: func(fs *flag.FlagSet) runFunc {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("fingerprint takes no arguments")
				}
				fp, err := e.Fingerprint()
				if err != nil {
					return codes.Errorf(codes.Unknown, "cannot compute the machine code: %w", err)
				}
				if *asJSON {
					return e.writeJSON(fp)
				}
				printFingerprint(e, fp)
				return nil
			}
		},
	})
}

func printFingerprint(e *Env, fp *fingerprint.Fingerprint) {
	fmt.Fprintln(e.Stdout, fp.Code)
	env := fp.Environment
	if fp.Hypervisor != "" {
		env += " (" + fp.Hypervisor + ")"
	}
	fmt.Fprintf(e.Stdout, "  environment:  %s\n", env)
	for _, c := range fp.Components {
		fmt.Fprintf(e.Stdout, "  %-13s %s  from %s\n", c.Name+":", c.Hash, c.Source)
	}
	for _, w := range fp.Warnings {
		fmt.Fprintf(e.Stdout, "  warning: %s\n", w)
	}
}
