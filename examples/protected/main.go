// Command protected is an example of a product that licensor protects. It
// checks its license on its hot path — once per unit of work — with the
// SDK in async mode, so the check costs nanoseconds and never waits on
// the network.
//
// It reads its settings from the environment (see README.md):
//
//	LICENSOR_SERVERS=https://127.0.0.1:8443 LICENSOR_ASYNC=1 \
//	LICENSOR_CA=ca.crt LICENSOR_CERT=app1.crt LICENSOR_KEY=app1.key \
//	LICENSOR_VENDOR_PUB=vendor.pub LICENSOR_PRODUCT=demo \
//	go run ./examples/protected
//
// It works until interrupted (SIGINT or SIGTERM: it releases its seat and
// exits 0), or for -n units of work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/sdk"
)

func main() {
	n := flag.Int("n", 0, "units of work to do, then exit (0: until interrupted by SIGINT or SIGTERM)")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "protected:", err)
		if e := (*codes.Error)(nil); errors.As(err, &e) {
			fmt.Fprintln(os.Stderr, "fix:", e.FixText())
		}
		os.Exit(1)
	}
}

func run(n int) error {
	cfg, err := sdk.FromEnv()
	if err != nil {
		return err
	}
	// Tell operators when something needs their attention.
	cfg.OnStateChange = func(ok bool, err error) {
		switch {
		case ok:
			slog.Info("license: authorized")
		case errors.Is(err, sdk.ErrClosed):
			slog.Info("license: seat released") // our own Close, at shutdown
		default:
			slog.Warn("license: not authorized", "err", err)
		}
	}
	cfg.OnConnectError = func(server string, err error) { slog.Warn("license server unreachable", "server", server, "err", err) }
	cfg.OnExpiryApproaching = func(product string, notAfter time.Time) {
		slog.Warn("license ends soon: ask the vendor to renew it", "product", product, "not_after", notAfter)
	}
	// Caught from the start, so that a signal while the client starts
	// still ends with the seat released and exit status 0.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, err := sdk.New(cfg)
	if err != nil {
		return err
	}
	defer client.Close() // releases the seat

	start := time.Now()
	done, refused := 0, 0
	for n == 0 || done+refused < n {
		if ctx.Err() != nil {
			break
		}
		// The hot path: one check per unit of work.
		if err := client.Authorize(ctx); err != nil {
			if ctx.Err() != nil {
				break // interrupted during the check: stop, as asked
			}
			if codes.Of(err) == codes.QPSExceeded {
				refused++ // over this instance's share of the licensed QPS: try later
				continue
			}
			return err // not licensed: the error says why and how to fix it
		}
		work()
		done++
	}
	st := client.Status()
	fmt.Printf("did %d units of work in %s (%d refused over the QPS share); licensed to %s by %s\n",
		done, time.Since(start).Round(time.Millisecond), refused, st.Holder, st.Server)
	return nil
}

// work is the product's real work.
func work() {}
