package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/atomicfile"
	"github.com/licensor/licensor/internal/transport"
	"github.com/licensor/licensor/internal/unwritable"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
)

// Upstream mode: instead of a license file from the vendor, the site server
// presents its activation request to the vendor's whitelist service and
// gets a license valid until the contract's end plus a grace period. It
// keeps the last good grant in the license file, fetches it again every
// upstream_interval (a renewed contract is picked up without a restart),
// keeps serving while the services are unreachable, slow (each has
// upstream_timeout to answer) or answer something that is not a grant for
// this site, and when the grant it holds runs out stops granting and exits
// with code 526.

// errUpstreamTimeout is the cause of a request to a vendor service that
// ran out of upstream_timeout.
var errUpstreamTimeout = errors.New("upstream_timeout passed")

// startUpstream fetches the grant at start; with no service answering it
// falls back to the last good grant on disk.
func (s *Server) startUpstream(ctx context.Context) (*loaded, error) {
	l, err := s.fetchGrant(ctx)
	if err == nil {
		return l, nil
	}
	last, lerr := s.loadLicense()
	if lerr != nil {
		return nil, err // no grant and nothing kept: say why the services refused
	}
	s.log.Warn("upstream", "code", int(codes.As(err).Code), "name", codes.As(err).Code.Name(), "err", codes.As(err).Detail(),
		"using", "the last grant kept in "+s.cfg.License)
	return last, nil
}

// fetchGrant asks the services in order and keeps the first good grant. A
// grant that cannot be written to disk ends the round with
// file_unwritable: no other service can help with the disk.
func (s *Server) fetchGrant(ctx context.Context) (*loaded, error) {
	host, err := s.fingerprint()
	if err != nil {
		return nil, codes.Errorf(codes.Fingerprint, "cannot compute this host's machine code: %w", err)
	}
	hostname, _ := os.Hostname()
	req := license.NewRequest(host, s.serverKey.Public().(ed25519.PublicKey), hostname, s.clock.Now())
	body, _ := json.Marshal(req)
	client, err := s.upstreamClient()
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	var reasons []string
	var last error
	for _, u := range s.cfg.Upstream {
		l, err := s.askGrant(ctx, client, strings.TrimRight(u, "/"), body)
		if err == nil {
			s.upstreamAt.Store(s.clock.Now().UnixNano())
			return l, nil
		}
		s.log.Warn("upstream", "service", u, "code", int(codes.Of(err)), "name", codes.Of(err).Name(), "err", codes.As(err).Detail())
		if codes.Of(err) == codes.FileUnwritable {
			// The service granted; this host cannot keep the grant.
			// Another service's grant would not fit on the disk either.
			return nil, err
		}
		last = err
		reasons = append(reasons, u+": "+transport.Reason(u, err))
	}
	if len(reasons) == 1 {
		return nil, last
	}
	if c := codes.Of(last); c == codes.NotWhitelisted || c == codes.GrantExpired {
		return nil, last
	}
	return nil, codes.Errorf(codes.AllServersDown, "every vendor service failed: %s", strings.Join(reasons, "; "))
}

func (s *Server) askGrant(ctx context.Context, client *http.Client, base string, body []byte) (*loaded, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, time.Duration(s.cfg.UpstreamTimeout), errUpstreamTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+api.PathGrant, bytes.NewReader(body))
	if err != nil {
		return nil, codes.Errorf(codes.InvalidArgument, "upstream %q: %v", base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, s.upstreamFailure(ctx, base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, s.upstreamFailure(ctx, base, err)
	}
	l, g, err := s.parseGrant(base, resp.StatusCode, data)
	if err != nil {
		return nil, err
	}
	// Keep the good grant: it is what the server serves from when the
	// services are unreachable, and across restarts.
	if err := atomicfile.WriteFile(s.cfg.License, []byte(g.License), 0o644); err != nil {
		return nil, unwritable.File{Path: s.cfg.License, Noun: "grant", By: "the site server",
			Other: "point license in the configuration to a path",
			Then:  "then the next fetch (every upstream_interval, or at start) keeps it; meanwhile the server serves with the grant it held before, if any.",
		}.Error(err)
	}
	return l, nil
}

// upstreamFailure classifies a request to a vendor service that got no
// answer; one that ran out of upstream_timeout says so.
func (s *Server) upstreamFailure(ctx context.Context, base string, err error) error {
	if context.Cause(ctx) != errUpstreamTimeout {
		if s.cfg.UpstreamCA == "" {
			return transport.ClassifySystemRoots(base, err)
		}
		return transport.Classify(base, err)
	}
	d := time.Duration(s.cfg.UpstreamTimeout)
	e := codes.Errorf(codes.Timeout, "%s: no answer within %s (upstream_timeout)", base, d)
	e.Err = err
	return e.WithFix(fmt.Sprintf("The vendor's service did not answer within upstream_timeout (%s): check the network path to it (proxy, firewall) and ask the vendor whether it is overloaded; raise upstream_timeout only if the path is known to be slow. This server keeps serving with the grant it holds meanwhile.", d))
}

// parseGrant reads a vendor service's answer: an error body becomes its
// code; a grant's license must verify for this site (vendor key, this
// machine, this server's key) and must not have run out already.
func (s *Server) parseGrant(base string, status int, data []byte) (*loaded, *api.GrantBody, error) {
	if status != http.StatusOK {
		e := transport.ErrorFromBody(base, status, data)
		if e.Code == codes.WeirdReply {
			// Code 8's fix speaks of the site server.
			e = e.WithFix("Check the upstream URL: it must reach the vendor's whitelist service ('licensor vendor serve') itself, and a proxy on the path must pass the service's answers through unchanged; 'licensor check --upstream URL' shows what answers there.")
		}
		return nil, nil, e
	}
	var g api.GrantBody
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, nil, codes.Errorf(codes.Protocol, "%s: the answer is not a grant: %v", base, err)
	}
	l, err := s.checkLicense([]byte(g.License))
	if err != nil {
		return nil, nil, err
	}
	// A grant that has run out would replace a good one on disk and stop
	// the server at once: the service's clock or its records are wrong.
	if end := grantEnd(l.license); s.clock.Now().After(end) {
		return nil, nil, codes.Errorf(codes.GrantExpired, "%s granted license %s, which ran out %s UTC already; it is not taken", base, l.license.ID, license.FormatTime(end)).
			WithFix("Ask the vendor to check the contract's end in its whitelist service and that service's clock; check this host's clock too.")
	}
	return l, &g, nil
}

func (s *Server) upstreamClient() (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.UpstreamCA != "" {
		pool, err := pki.LoadCertPool(s.cfg.UpstreamCA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	// Each request is bounded by upstream_timeout (askGrant).
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, nil
}

// upstreamLoop fetches the grant again every upstream_interval and swaps
// in a renewed one.
func (s *Server) upstreamLoop(ctx context.Context) {
	every(ctx, time.Duration(s.cfg.UpstreamInterval), func(ctx context.Context) { s.refreshGrant(ctx) })
}

// refreshGrant fetches the grant once; a failure keeps the one in force.
func (s *Server) refreshGrant(ctx context.Context) error {
	l, err := s.fetchGrant(ctx)
	if err != nil {
		held := s.lic.Load().license
		s.log.Warn("upstream", "code", int(codes.Of(err)), "name", codes.Of(err).Name(), "err", codes.As(err).Detail(),
			"keeping", held.ID, "until", license.FormatTime(grantEnd(held))+" UTC")
		return err
	}
	s.installGrant(l)
	return nil
}

// installGrant swaps in a grant fetched anew.
func (s *Server) installGrant(l *loaded) {
	s.reload.Lock()
	old := s.lic.Swap(l)
	s.reload.Unlock()
	if old.license.ID != l.license.ID {
		s.log.Info("upstream", "code", 0, "license", l.license.ID, "replaces", old.license.ID)
	}
}

// checkGrant stops the server when the grant it holds has run out and
// one last fetch from the vendor's services brings no renewal: a contract
// renewed since the last periodic fetch is picked up then, without a stop.
func (s *Server) checkGrant(ctx context.Context, now time.Time) {
	l := s.lic.Load()
	end := grantEnd(l.license)
	if !now.After(end) {
		return
	}
	next, ferr := s.fetchGrant(ctx)
	if ctx.Err() != nil {
		return // shutting down: the next start fetches again
	}
	if ferr == nil {
		if !now.After(grantEnd(next.license)) {
			s.installGrant(next) // renewed
			return
		}
		ferr = codes.Errorf(codes.GrantExpired, "the service granted %s, which has run out too", next.license.ID)
	}
	err := codes.Errorf(codes.GrantExpired, "the grant %s for %s ran out %s UTC, and a last fetch from the vendor's service brought no renewal: %s",
		l.license.ID, l.license.Holder, license.FormatTime(end), codes.As(ferr).Detail())
	err.Err = ferr
	if c := codes.Of(ferr); c != codes.GrantExpired && c != codes.NotWhitelisted {
		err = err.WithFix(fmt.Sprintf("The last fetch failed with code %d (%s), so a renewal, if there is one, was not seen: restore the path to the vendor's service ('licensor check --upstream URL --data DIR' shows what answers), then start the site server again; it fetches the grant at start. A stopped server makes no further fetches.", int(c), c.Name()))
	}
	s.log.Error("upstream", "code", int(codes.GrantExpired), "name", codes.GrantExpired.Name(), "err", err.Detail(), "fix", err.FixText())
	if s.stopRun != nil {
		s.stopRun(err)
	}
}

// missingServerKeyFix is the fix for a data directory without its server
// key. In upstream mode nothing goes to the vendor by hand: the server
// presents its request to the vendor's service itself.
func missingServerKeyFix(cfg Config) string {
	if len(cfg.Upstream) > 0 {
		return "Run 'licensor activation-request --data " + cfg.DataDir + "' to create the key, then start the server again; in upstream mode nothing needs sending by hand: the server presents its request to the vendor's service, which must approve this machine's code ('licensor fingerprint' prints it on the first line)."
	}
	return "Run 'licensor activation-request --data " + cfg.DataDir + "' to create it, and send the request to the vendor for a license."
}

// grantEnd is when the last of a license's products runs out.
func grantEnd(l *license.License) time.Time {
	var last time.Time
	for _, p := range l.Products {
		if p.NotAfter.After(last) {
			last = p.NotAfter
		}
	}
	return last
}

// upstreamStatus is what /security/license adds in upstream mode: the
// grant's whole days left, rounded as a person reads them
// (license.WholeDays), and the last contact, to the second.
func (s *Server) upstreamStatus(now time.Time) (days int, contact *time.Time) {
	last := grantEnd(s.lic.Load().license)
	if n := s.upstreamAt.Load(); n != 0 {
		t := time.Unix(0, n).UTC().Truncate(time.Second)
		contact = &t
	}
	return license.WholeDays(last.Sub(now)), contact
}

// licenseBody is GET /security/license: the license as operators know it
// and, in upstream mode, the grant's days left and the last contact. Its
// times are RFC 3339 in UTC, to the second, as the View's.
type licenseBody struct {
	license.View
	DaysLeft            *int       `json:"daysLeft,omitempty"`
	LastUpstreamContact *time.Time `json:"lastUpstreamContact,omitempty"`
}

func (s *Server) licenseView() any {
	v := s.lic.Load().view
	if st, ok := s.tokenStatus(); ok {
		v.DogCount = &st.Count
	}
	if len(s.cfg.Upstream) == 0 {
		return v
	}
	days, contact := s.upstreamStatus(s.clock.Now())
	return licenseBody{View: v, DaysLeft: &days, LastUpstreamContact: contact}
}

func validUpstream(u string) error {
	if !strings.HasPrefix(u, "https://") {
		return fmt.Errorf("%q: want https://HOST:PORT", u)
	}
	return nil
}
