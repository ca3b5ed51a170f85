// Command licensor is the license authorization tool: vendor keys and
// licenses, machine codes, and (in time) the site server. See 'licensor help'.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/licensor/licensor/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:])
	stop()
	os.Exit(cli.Report(os.Stderr, err))
}
