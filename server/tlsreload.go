package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/store"
)

// ReloadTLS re-reads the server's certificate, its key and the client CA
// (tls.cert, tls.key, tls.ca): new connections get the new certificate
// and are verified against the new CA; open connections, their keep-alive
// requests included, go on untouched. When any file does not load, the
// certificate and CA in force stay, and the log line and the error carry
// the code. licensor serve calls it on SIGHUP, with Reload.
func (s *Server) ReloadTLS(ctx context.Context) error {
	now := s.clock.Now()
	old, cur, err := s.tls.Reload(now)
	ev := store.Event{Time: now, Kind: store.KindReload, Actor: "server"}
	if err != nil {
		e := codes.As(err)
		ev.Code, ev.Detail = int(e.Code), "TLS refused: "+e.Detail()
		s.log.Error("reload-tls", "code", int(e.Code), "name", e.Code.Name(), "err", e.Detail(), "fix", e.FixText(),
			"kept", certName(old))
	} else {
		ev.Detail = fmt.Sprintf("TLS certificate %s replaces %s", certName(cur), certName(old))
		s.log.Info("reload-tls", "code", 0, "cert", certName(cur), "not_after", cur.NotAfter.UTC().Format(time.RFC3339),
			"replaces", certName(old))
	}
	if rerr := s.store.Record(ctx, ev); rerr != nil && err == nil {
		err = codes.Errorf(codes.StoreUnavailable, "the TLS certificate was reloaded but the audit log could not be written: %w", rerr)
	}
	return err
}

// certName tells certificates apart in a log line: the serial number
// changes with each one issued.
func certName(c *x509.Certificate) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("%q serial %x", c.Subject.CommonName, c.SerialNumber)
}
