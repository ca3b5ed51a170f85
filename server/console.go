package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/console"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/report"
	"github.com/licensor/licensor/store"
)

// The operator console (package console) under /console/: its pages and
// the JSON they read, for admin-role clients only. Every answer carries
// the console's security headers (console.SetHeaders), errors included.
// The JSON is computed from the server's own state and store: the license
// in force, the certificates, the pool, the audit log.
//
// A change (a revoke) needs the console's CSRF token, which only a page
// of the console can read (GET /console/api/session), and must come from
// the console's own origin; it goes through the admin API's revoke and is
// audited with the admin certificate's identity.

// The console's JSON endpoints.
const (
	PathConsoleSession  = console.Prefix + "api/session"
	PathConsoleOverview = console.Prefix + "api/overview"
	PathConsoleSeats    = console.Prefix + "api/seats"
	PathConsoleHealth   = console.Prefix + "api/health"
	PathConsoleCodes    = console.Prefix + "api/codes"
	PathConsoleRevoke   = console.Prefix + "api/revoke"
	PathConsoleHistory  = console.Prefix + "api/history"
	PathConsoleReport   = console.Prefix + "api/report"
)

// csrfTTL is how long a CSRF token is good for; the page fetches a fresh
// one before each change.
const csrfTTL = 12 * time.Hour

// routeConsole adds the console's routes to the server's table.
func (s *Server) routeConsole(mux *http.ServeMux) {
	reports := &reportCache{entries: map[string]cachedReport{}}
	h := func(fn peerHandler) http.Handler {
		inner := s.withRole(fn, pki.RoleAdmin)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			console.SetHeaders(w.Header())
			inner.ServeHTTP(w, r)
		})
	}
	mux.Handle("GET "+console.Prefix, h(s.consoleAsset))
	mux.Handle("GET "+PathConsoleSession, h(s.consoleSession))
	mux.Handle("GET "+PathConsoleOverview, h(s.consoleOverview))
	mux.Handle("GET "+PathConsoleSeats, h(s.consoleSeats))
	mux.Handle("GET "+PathConsoleHealth, h(s.consoleHealth))
	mux.Handle("GET "+PathConsoleCodes, h(s.consoleCodes))
	mux.Handle("GET "+PathConsoleHistory, h(func(w http.ResponseWriter, r *http.Request, p peer) { s.consoleHistory(w, r, p, reports) }))
	mux.Handle("GET "+PathConsoleReport, h(func(w http.ResponseWriter, r *http.Request, p peer) { s.consoleReport(w, r, p, reports) }))
	mux.Handle("POST "+PathConsoleRevoke, h(s.consoleRevoke))
	mux.Handle(console.Prefix, h(func(w http.ResponseWriter, r *http.Request, p peer) {
		s.fail(w, r, p, codes.Errorf(codes.RequestMalformed, "the console has no %s %s", r.Method, r.URL.Path))
	}))
}

func (s *Server) consoleAsset(w http.ResponseWriter, r *http.Request, p peer) {
	if !console.ServeAsset(w, r) {
		s.fail(w, r, p, codes.Errorf(codes.RequestMalformed, "the console has no page %s", r.URL.Path))
	}
}

// ConsoleSession is GET /console/api/session: who the console acts as,
// and the CSRF token its changes carry.
type ConsoleSession struct {
	Admin string `json:"admin"`
	CSRF  string `json:"csrf"`
	Node  string `json:"node,omitempty"`
}

func (s *Server) consoleSession(w http.ResponseWriter, r *http.Request, p peer) {
	body := ConsoleSession{Admin: p.name, CSRF: s.csrfToken(p.name, r.Header.Get(console.SessionHeader), s.clock.Now())}
	if cs, ok := s.store.(store.Cluster); ok {
		body.Node = cs.Node()
	}
	writeJSON(w, http.StatusOK, body)
}

// csrfToken is "ISSUED.MAC": the MAC, under a key derived from the
// server key, covers the identity, the proxy session (console.SessionHeader,
// "" for a browser with its own certificate) and the issue time.
func (s *Server) csrfToken(identity, session string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return ts + "." + base64.RawURLEncoding.EncodeToString(s.csrfMAC(identity, session, ts))
}

func (s *Server) csrfMAC(identity, session, ts string) []byte {
	key := sha256.Sum256(append([]byte("licensor console csrf\x00"), s.serverKey.Seed()...))
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(identity + "\x00" + session + "\x00" + ts))
	return m.Sum(nil)[:24]
}

// checkChange admits a change: from the console's origin, with a CSRF
// token issued to this identity and session within csrfTTL.
func (s *Server) checkChange(r *http.Request, p peer, now time.Time) error {
	if err := console.SameOrigin(r, "https://"+r.Host); err != nil {
		return err
	}
	tok := r.Header.Get(console.CSRFHeader)
	if tok == "" {
		return codes.Errorf(codes.ConsoleChangeRefused, "the change carries no CSRF token (%s)", console.CSRFHeader)
	}
	ts, mac, ok := strings.Cut(tok, ".")
	issued, err := strconv.ParseInt(ts, 10, 64)
	got, derr := base64.RawURLEncoding.DecodeString(mac)
	if !ok || err != nil || derr != nil || !hmac.Equal(got, s.csrfMAC(p.name, r.Header.Get(console.SessionHeader), ts)) {
		return codes.Errorf(codes.ConsoleChangeRefused, "the change's CSRF token was not issued to this session")
	}
	if at := time.Unix(issued, 0); now.Sub(at) > csrfTTL || at.Sub(now) > time.Minute {
		return codes.Errorf(codes.ConsoleChangeRefused, "the change's CSRF token was issued %s UTC, more than %s ago", license.FormatTime(at), csrfTTL)
	}
	return nil
}

// ConsoleOverview is GET /console/api/overview.
type ConsoleOverview struct {
	Now     time.Time          `json:"now"`
	License ConsoleLicense     `json:"license"`
	Certs   []ConsoleCert      `json:"certificates"`
	Pools   []ConsoleGauge     `json:"pools"`
	Denials []ConsoleDenial    `json:"denials"`
	Since   time.Time          `json:"denials_since"`
	Nodes   []store.NodeInfo   `json:"nodes,omitempty"`
	Node    string             `json:"node,omitempty"`
	Grant   *ConsoleUpstream   `json:"upstream,omitempty"`
	Extra   []ConsoleOtherPool `json:"unlicensed_pools,omitempty"`
}

// ConsoleLicense is the license in force, for a person.
type ConsoleLicense struct {
	ID       string           `json:"id"`
	Holder   string           `json:"holder"`
	Issuer   string           `json:"issuer"`
	Issued   time.Time        `json:"issued"`
	Binding  string           `json:"binding"`
	Products []ConsoleProduct `json:"products"`
}

// ConsoleProduct is one product of the license with its days left.
type ConsoleProduct struct {
	Subject   string    `json:"subject"`
	Functions []string  `json:"functions"`
	Instances int       `json:"instances"`
	QPS       int       `json:"qps"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	DaysLeft  int       `json:"days_left"`
}

// ConsoleCert is a certificate's dates.
type ConsoleCert struct {
	Role     string    `json:"role"` // "server" or "ca"
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
	DaysLeft int       `json:"days_left"`
}

// ConsoleGauge is one product's pool against its license: instance and
// key-file seats apart, and QPS used against licensed.
type ConsoleGauge struct {
	Product   string  `json:"product"`
	Limit     int     `json:"limit"`
	Held      int     `json:"held"`
	Instances int     `json:"instances"`
	KeyFiles  int     `json:"keyfile_hosts"`
	QPS       int     `json:"qps"`
	QPSUsed   float64 `json:"qps_used"`
}

// ConsoleOtherPool is seats still held in a product the license in force
// no longer has.
type ConsoleOtherPool struct {
	Product string `json:"product"`
	Held    int    `json:"held"`
}

// ConsoleDenial counts one code's denials since ConsoleOverview.Since.
type ConsoleDenial struct {
	Code  int       `json:"code"`
	Name  string    `json:"name"`
	Count int       `json:"count"`
	Last  time.Time `json:"last"`
}

// ConsoleUpstream is the vendor's grant, in upstream mode.
type ConsoleUpstream struct {
	DaysLeft    int        `json:"days_left"`
	LastContact *time.Time `json:"last_contact,omitempty"`
}

// recentDenials is how far back the overview counts denials.
const recentDenials = 24 * time.Hour

func (s *Server) consoleOverview(w http.ResponseWriter, r *http.Request, p peer) {
	now := s.clock.Now()
	leases, err := s.store.Leases(r.Context(), "", now)
	if err != nil {
		s.fail(w, r, p, s.storeError(err))
		return
	}
	l := s.lic.Load()
	body := ConsoleOverview{Now: now.UTC(), License: consoleLicense(l.license, now), Certs: s.consoleCerts(now), Since: now.Add(-recentDenials).UTC()}
	type split struct{ inst, kf int }
	byProduct := map[string]*split{}
	for _, ls := range leases {
		c := byProduct[ls.Product]
		if c == nil {
			c = &split{}
			byProduct[ls.Product] = c
		}
		if ls.Kind == store.SeatKeyFile {
			c.kf++
		} else {
			c.inst++
		}
	}
	for _, prod := range l.license.Products {
		g := ConsoleGauge{Product: prod.Subject, Limit: prod.InstanceSize, QPS: prod.QPS, QPSUsed: s.qpsUsed(prod.Subject)}
		if c := byProduct[prod.Subject]; c != nil {
			g.Instances, g.KeyFiles, g.Held = c.inst, c.kf, c.inst+c.kf
			delete(byProduct, prod.Subject)
		}
		body.Pools = append(body.Pools, g)
	}
	for name, c := range byProduct {
		body.Extra = append(body.Extra, ConsoleOtherPool{Product: name, Held: c.inst + c.kf})
	}
	sort.Slice(body.Extra, func(i, j int) bool { return body.Extra[i].Product < body.Extra[j].Product })
	if body.Denials, err = s.consoleDenials(r.Context(), body.Since, now); err != nil {
		s.fail(w, r, p, s.storeError(err))
		return
	}
	if cs, ok := s.store.(store.Cluster); ok {
		if body.Nodes, err = cs.Nodes(r.Context(), now); err != nil {
			s.fail(w, r, p, s.storeError(err))
			return
		}
		body.Node = cs.Node()
	}
	if len(s.cfg.Upstream) > 0 {
		days, contact := s.upstreamStatus(now)
		body.Grant = &ConsoleUpstream{DaysLeft: days, LastContact: contact}
	}
	writeJSON(w, http.StatusOK, body)
}

func consoleLicense(l *license.License, now time.Time) ConsoleLicense {
	out := ConsoleLicense{ID: l.ID, Holder: l.Holder, Issuer: l.Issuer, Issued: l.Issued.UTC(), Binding: l.Binding(), Products: []ConsoleProduct{}}
	for _, p := range l.Products {
		out.Products = append(out.Products, ConsoleProduct{Subject: p.Subject, Functions: p.Functions, Instances: p.InstanceSize, QPS: p.QPS,
			NotBefore: p.NotBefore.UTC(), NotAfter: p.NotAfter.UTC(), DaysLeft: license.WholeDays(p.NotAfter.Sub(now))})
	}
	return out
}

// consoleCerts are the server certificate in force and the site CA's
// certificates, with their days left.
func (s *Server) consoleCerts(now time.Time) []ConsoleCert {
	var out []ConsoleCert
	add := func(role string, c *x509.Certificate) {
		out = append(out, ConsoleCert{Role: role, Subject: c.Subject.CommonName, NotAfter: c.NotAfter.UTC(), DaysLeft: license.WholeDays(c.NotAfter.Sub(now))})
	}
	if crt := s.tls.Certificate(); crt != nil && crt.Leaf != nil {
		add("server", crt.Leaf)
	}
	for _, c := range s.caCerts() {
		add("ca", c)
	}
	return out
}

// caCerts reads the site CA file the server trusts clients under.
func (s *Server) caCerts() []*x509.Certificate {
	data, err := os.ReadFile(s.cfg.TLS.CA)
	if err != nil {
		return nil
	}
	certs, _ := pki.ParseCertificates(data)
	return certs
}

// consoleDenials counts the denials recorded in [from, to], by code,
// from the usage report engine; Last is the end of the last hour a code
// was seen in. A store that keeps no reports has none to show.
func (s *Server) consoleDenials(ctx context.Context, from, to time.Time) ([]ConsoleDenial, error) {
	out := []ConsoleDenial{}
	src, ok := s.store.(report.Source)
	if !ok {
		return out, nil
	}
	q := reportQuery(s, from, to, report.ByHour)
	q.SkipDistinct = true // denials only
	rep, err := report.Build(ctx, src, q)
	if err != nil {
		return nil, err
	}
	byCode := map[int]*ConsoleDenial{}
	for _, p := range rep.Products {
		for _, per := range p.Periods {
			for c, n := range per.Denials {
				d := byCode[c]
				if d == nil {
					d = &ConsoleDenial{Code: c, Name: codes.Code(c).Name()}
					byCode[c] = d
				}
				d.Count += n
				if end := minTime(per.End, to).UTC(); end.After(d.Last) {
					d.Last = end
				}
			}
		}
	}
	for _, d := range byCode {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Count > out[j].Count || out[i].Count == out[j].Count && out[i].Code < out[j].Code
	})
	return out, nil
}

// reportQuery asks the report engine for [from, to] by periods of by,
// against the license in force. The engine's ranges end before their
// To, so it is a second past to: what happened at to counts.
func reportQuery(s *Server, from, to time.Time, by string) report.Query {
	end := to.Add(time.Second)
	return report.Query{From: from, To: end, By: by, License: s.lic.Load().license, Now: end}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ConsoleHistory is GET /console/api/history?range=day|week|month: per
// product the seats held over the range, hour by hour (day by day for a
// month), against the limit; the denials over the same periods; and the
// report downloads for the range.
type ConsoleHistory struct {
	Range       string            `json:"range"`
	Bucket      string            `json:"bucket"`
	From        time.Time         `json:"from"`
	To          time.Time         `json:"to"`
	Products    []HistoryProduct  `json:"products"`
	Denials     []HistoryDenials  `json:"denials"`
	DenialCodes []ConsoleDenial   `json:"denial_codes"`
	Downloads   []HistoryDownload `json:"downloads"`
}

// HistoryProduct is one product's seats over the range.
type HistoryProduct struct {
	Product string         `json:"product"`
	Limit   int            `json:"limit"`
	Peak    int            `json:"peak"`
	Average float64        `json:"average"`
	Points  []HistoryPoint `json:"points"`
}

// HistoryPoint is one period: the most seats held at once (and of them
// key-file hosts' at their peak), and the average held.
type HistoryPoint struct {
	Start       time.Time `json:"start"`
	Peak        int       `json:"peak"`
	KeyFilePeak int       `json:"keyfile_peak"`
	Average     float64   `json:"average"`
}

// HistoryDenials is one period's denials, every product and code.
type HistoryDenials struct {
	Start time.Time `json:"start"`
	Count int       `json:"count"`
}

// HistoryDownload is a report of the range to download.
type HistoryDownload struct {
	Format string `json:"format"`
	Title  string `json:"title"`
	Href   string `json:"href"`
	File   string `json:"file"`
}

// historyRanges are the ranges the history page offers, with their
// periods.
var historyRanges = map[string]struct {
	span time.Duration
	by   string
}{
	"day":   {24 * time.Hour, report.ByHour},
	"week":  {7 * 24 * time.Hour, report.ByHour},
	"month": {30 * 24 * time.Hour, report.ByDay},
}

// reportCache keeps the report of each history range for reportCacheTTL:
// a month's report reads every hour's summary, and the page is read
// again and again.
type reportCache struct {
	mu      sync.Mutex
	entries map[string]cachedReport
}

type cachedReport struct {
	at  time.Time
	rep *report.Report
}

// reportCacheTTL is how stale a history page may be.
const reportCacheTTL = time.Minute

// rangeReport is the report of a history range, from the cache when it
// is fresh. Without distinct, its Instances and Hosts are 0: the charts
// do not show them, and counting them is most of a long range's cost.
func (s *Server) rangeReport(ctx context.Context, c *reportCache, name string, now time.Time, distinct bool) (*report.Report, error) {
	rg := historyRanges[name]
	key := name
	if distinct {
		key += "+distinct"
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && !now.Before(e.at) && now.Sub(e.at) < reportCacheTTL {
		return e.rep, nil
	}
	src, ok := s.store.(report.Source)
	if !ok {
		return nil, codes.Errorf(codes.StoreUnavailable, "this store keeps no usage reports")
	}
	q := reportQuery(s, now.Add(-rg.span), now, rg.by)
	q.SkipDistinct = !distinct
	rep, err := report.Build(ctx, src, q)
	if err != nil {
		return nil, s.storeError(err)
	}
	c.mu.Lock()
	c.entries[key] = cachedReport{at: now, rep: rep}
	c.mu.Unlock()
	return rep, nil
}

func (s *Server) consoleHistory(w http.ResponseWriter, r *http.Request, p peer, c *reportCache) {
	now := s.clock.Now()
	name := r.URL.Query().Get("range")
	if name == "" {
		name = "day"
	}
	rg, ok := historyRanges[name]
	if !ok {
		s.fail(w, r, p, codes.Errorf(codes.RequestMalformed, "range %q: want day, week or month", truncate(name, 16)))
		return
	}
	rep, err := s.rangeReport(r.Context(), c, name, now, false)
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	body := ConsoleHistory{Range: name, Bucket: rg.by, From: rep.From, To: rep.To, Products: []HistoryProduct{}, Denials: []HistoryDenials{}, DenialCodes: []ConsoleDenial{}}
	denials := map[time.Time]int{}
	byCode := map[int]int{}
	for _, prod := range rep.Products {
		hp := HistoryProduct{Product: prod.Name, Limit: prod.Limit, Peak: prod.Total.PeakTotal, Average: prod.Total.AvgInstance + prod.Total.AvgKeyFile, Points: make([]HistoryPoint, 0, len(prod.Periods))}
		for _, per := range prod.Periods {
			hp.Points = append(hp.Points, HistoryPoint{Start: per.Start, Peak: per.PeakTotal, KeyFilePeak: per.PeakKeyFile, Average: per.AvgInstance + per.AvgKeyFile})
			denials[per.Start] += per.Denied()
			for c, n := range per.Denials {
				byCode[c] += n
			}
		}
		body.Products = append(body.Products, hp)
	}
	for t := periodFloor(rep.From, rg.by); t.Before(rep.To); t = periodNext(t, rg.by) {
		body.Denials = append(body.Denials, HistoryDenials{Start: t, Count: denials[t]})
	}
	for c, n := range byCode {
		body.DenialCodes = append(body.DenialCodes, ConsoleDenial{Code: c, Name: codes.Code(c).Name(), Count: n})
	}
	sort.Slice(body.DenialCodes, func(i, j int) bool { return body.DenialCodes[i].Code < body.DenialCodes[j].Code })
	body.Downloads = historyDownloads(name, rep.From, rep.To)
	writeJSON(w, http.StatusOK, body)
}

func periodFloor(t time.Time, by string) time.Time {
	t = t.UTC()
	if by == report.ByHour {
		return t.Truncate(time.Hour)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func periodNext(t time.Time, by string) time.Time {
	if by == report.ByHour {
		return t.Add(time.Hour)
	}
	return t.AddDate(0, 0, 1)
}

// ConsoleSeats is GET /console/api/seats: every seat held, with the
// rule that a key-file seat stays counted until its key file expires.
type ConsoleSeats struct {
	Now   time.Time     `json:"now"`
	Seats []ConsoleSeat `json:"seats"`
	// Nodes: several servers share the store, and each seat names the
	// node that last granted or renewed it.
	Nodes       bool   `json:"nodes"`
	KeyFileRule string `json:"keyfile_rule"`
}

// ConsoleSeat is one seat.
type ConsoleSeat struct {
	Product    string         `json:"product"`
	InstanceID string         `json:"instance_id"`
	Kind       store.SeatKind `json:"kind"`
	Holder     string         `json:"holder"`
	// Host is the machine code of a key-file host; an instance's host is
	// not known to the server beyond its certificate (Holder).
	Host      string    `json:"host,omitempty"`
	Since     time.Time `json:"since"`
	Renewed   time.Time `json:"renewed"`
	Expires   time.Time `json:"expires"`
	Node      string    `json:"node,omitempty"`
	Revoked   time.Time `json:"revoked,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// KeyFileRule is the rule the seats page shows beside key-file seats.
const KeyFileRule = "A key-file host's seat stays counted until its key file expires: the key file works offline and cannot be recalled. Revoking it stops its renewals; the seat ends when the key file does."

func (s *Server) consoleSeats(w http.ResponseWriter, r *http.Request, p peer) {
	now := s.clock.Now()
	leases, err := s.store.Leases(r.Context(), r.URL.Query().Get("product"), now)
	if err != nil {
		s.fail(w, r, p, s.storeError(err))
		return
	}
	_, cluster := s.store.(store.Cluster)
	body := ConsoleSeats{Now: now.UTC(), Seats: make([]ConsoleSeat, len(leases)), Nodes: cluster, KeyFileRule: KeyFileRule}
	for i, l := range leases {
		c := ConsoleSeat{Product: l.Product, InstanceID: l.InstanceID, Kind: l.Kind, Holder: l.Holder,
			Since: l.Since.UTC(), Renewed: l.Renewed.UTC(), Expires: l.Expires.UTC(), Node: l.Node, RevokedBy: l.RevokedBy}
		if !l.Revoked.IsZero() {
			c.Revoked = l.Revoked.UTC()
		}
		if l.Kind == store.SeatKeyFile {
			c.Host = strings.TrimPrefix(l.InstanceID, store.KeyFileSeatPrefix)
		}
		body.Seats[i] = c
	}
	writeJSON(w, http.StatusOK, body)
}

// maxReason bounds a revoke's reason, in bytes.
const maxReason = 300

// consoleReasonPrefix marks the reasons given through the console in the
// audit log.
const consoleReasonPrefix = "console: "

// validateRevoke checks an admin revoke: the seat it names, and its
// reason (optional, bounded, one line of text).
func validateRevoke(rr RevokeRequest) error {
	if err := validateSeat(rr.Product, rr.InstanceID); err != nil {
		return err
	}
	switch {
	case len(rr.Reason) > maxReason:
		return codes.Errorf(codes.RequestTooLarge, "the reason is %d bytes; at most %d", len(rr.Reason), maxReason)
	case !utf8.ValidString(rr.Reason) || strings.ContainsFunc(rr.Reason, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return codes.Errorf(codes.RequestMalformed, "the reason holds control characters or is not UTF-8")
	}
	return nil
}

// parseConsoleRevoke reads a console revoke's body: the seat and the
// operator's reason, which the console requires.
func parseConsoleRevoke(data []byte) (RevokeRequest, error) {
	var rr RevokeRequest
	if err := decodeJSON(data, &rr); err != nil {
		return RevokeRequest{}, err
	}
	if rr.Reason = strings.TrimSpace(rr.Reason); rr.Reason == "" {
		return RevokeRequest{}, codes.Errorf(codes.RequestMalformed, "a revoke through the console needs a reason").
			WithFix("Say why the seat is revoked; the audit log keeps it with your identity.")
	}
	rr.Reason = consoleReasonPrefix + rr.Reason
	if err := validateRevoke(rr); err != nil {
		return RevokeRequest{}, err
	}
	return rr, nil
}

// consoleRevoke admits a change from the console and hands it to the
// admin API's revoke, which frees the seat and audits it.
func (s *Server) consoleRevoke(w http.ResponseWriter, r *http.Request, p peer) {
	if err := s.checkChange(r, p, s.clock.Now()); err != nil {
		s.fail(w, r, p, err)
		return
	}
	data, err := s.readBody(w, r)
	var rr RevokeRequest
	if err == nil {
		rr, err = parseConsoleRevoke(data)
	}
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	body, _ := json.Marshal(rr)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	s.handleRevoke(w, r, p)
}

func (s *Server) consoleCodes(w http.ResponseWriter, r *http.Request, p peer) {
	writeJSON(w, http.StatusOK, codes.All())
}

// ConsoleHealth is GET /console/api/health: the server's own checks, in
// the doctor's shape.
type ConsoleHealth struct {
	Now    time.Time     `json:"now"`
	Checks []HealthCheck `json:"checks"`
}

// HealthCheck is one check: a kebab-case name, pass, warn, fail or skip,
// the code when it did not pass, what was found and the fix.
type HealthCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Code   int    `json:"code"`
	Found  string `json:"found"`
	Fix    string `json:"fix,omitempty"`
}

// warnDays is how close to its end a certificate or product is a warning.
const warnDays = 30

func passed(name, format string, args ...any) HealthCheck {
	return HealthCheck{Name: name, Status: "pass", Found: fmt.Sprintf(format, args...)}
}

func failed(name string, err error) HealthCheck {
	e := codes.As(err)
	return HealthCheck{Name: name, Status: "fail", Code: int(e.Code), Found: e.Msg, Fix: e.FixText()}
}

func warned(name string, c codes.Code, found, fix string) HealthCheck {
	return HealthCheck{Name: name, Status: "warn", Code: int(c), Found: found, Fix: fix}
}

func (s *Server) consoleHealth(w http.ResponseWriter, r *http.Request, p peer) {
	now := s.clock.Now()
	writeJSON(w, http.StatusOK, ConsoleHealth{Now: now.UTC(), Checks: s.healthChecks(r.Context(), now)})
}

// healthChecks are what readiness checks, and what an operator would
// look at next: the store, the clock, the certificates' dates, the
// license's products, the vendor's service in upstream mode.
func (s *Server) healthChecks(ctx context.Context, now time.Time) []HealthCheck {
	var out []HealthCheck
	switch held, err := s.store.Held(ctx, now); {
	case !s.ready.Load():
		out = append(out, failed("store", codes.Errorf(codes.StoreUnavailable, "the server is starting or shutting down")))
	case err != nil:
		out = append(out, failed("store", s.storeError(err)))
	default:
		n := 0
		for _, h := range held {
			n += h
		}
		where := "the embedded store"
		if cs, ok := s.store.(store.Cluster); ok {
			where = fmt.Sprintf("the shared store (node %s)", cs.Node())
		}
		out = append(out, passed("store", "%s answers; %d seats held", where, n))
	}
	if err := s.checkTime(now); err != nil {
		out = append(out, failed("clock", err))
	} else {
		out = append(out, passed("clock", "%s UTC, not behind the latest time seen here (%s UTC)", license.FormatTime(now), license.FormatTime(time.Unix(0, s.high.Load()))))
	}
	for _, c := range s.consoleCerts(now) {
		name, what, fix := "server-certificate", "the server certificate", "Reissue it with 'licensor pki server --dir DIR', then reload the server (SIGHUP): connections stay up."
		if c.Role == "ca" {
			name, what, fix = "ca-certificate", "the site CA", "Make a new site CA ('licensor pki init') and reissue the server and client certificates under it before this one ends."
		}
		switch {
		case !now.Before(c.NotAfter):
			out = append(out, HealthCheck{Name: name, Status: "fail", Code: int(codes.ServerCert), Found: fmt.Sprintf("%s (%s) expired %s UTC", what, c.Subject, license.FormatTime(c.NotAfter)), Fix: fix})
		case c.DaysLeft < warnDays:
			out = append(out, warned(name, codes.ServerCert, fmt.Sprintf("%s (%s) expires %s UTC, in %d days", what, c.Subject, license.FormatTime(c.NotAfter), c.DaysLeft), fix))
		default:
			out = append(out, passed(name, "%s (%s) is valid until %s UTC (%d days)", what, c.Subject, license.FormatTime(c.NotAfter), c.DaysLeft))
		}
	}
	l := s.lic.Load().license
	for _, prod := range l.Products {
		name := "license-" + prod.Subject
		days := license.WholeDays(prod.NotAfter.Sub(now))
		if err := l.CheckProduct(prod.Subject, now); err != nil {
			out = append(out, failed(name, err))
		} else if days < warnDays {
			out = append(out, warned(name, codes.Expired, fmt.Sprintf("%s ends %s UTC, in %d days", prod.Subject, license.FormatTime(prod.NotAfter), days),
				"Ask the vendor to renew the license, then install it and reload the server ('licensor serve' reloads on SIGHUP)."))
		} else {
			out = append(out, passed(name, "%s is licensed for %d instances until %s UTC (%d days)", prod.Subject, prod.InstanceSize, license.FormatTime(prod.NotAfter), days))
		}
	}
	if len(s.cfg.Upstream) == 0 {
		out = append(out, HealthCheck{Name: "upstream", Status: "skip", Found: "the license is a file: no vendor service to contact"})
	} else {
		days, contact := s.upstreamStatus(now)
		due := 2 * time.Duration(s.cfg.UpstreamInterval)
		switch {
		case contact == nil || now.Sub(*contact) > due:
			last := "never"
			if contact != nil {
				last = license.FormatTime(*contact) + " UTC"
			}
			out = append(out, warned("upstream", codes.Connect, fmt.Sprintf("the vendor's service was last reached %s; the grant lasts %d more days", last, days),
				"Restore the path to the vendor's service ('licensor check --upstream URL --data DIR' shows what answers); the grant in force keeps serving until it ends."))
		default:
			out = append(out, passed("upstream", "the vendor's service was reached %s UTC; the grant lasts %d more days", license.FormatTime(*contact), days))
		}
	}
	if c, ok := s.tokenHealth(); ok {
		out = append(out, c)
	}
	return out
}

// historyDownloads are the report downloads of a history range.
func historyDownloads(name string, from, to time.Time) []HistoryDownload {
	file := reportFile(from, to)
	q := "api/report?range=" + name
	return []HistoryDownload{
		{Format: "csv", Title: "CSV", Href: q + "&format=csv", File: file + ".csv"},
		{Format: "json", Title: "JSON", Href: q + "&format=json", File: file + ".json"},
		{Format: "signed", Title: "Signed report (for the vendor)", Href: q + "&format=signed", File: file + ".signed.json"},
	}
}

// consoleReport is GET /console/api/report?range=R&format=F: the usage
// report of a history range, as a file to download.
func (s *Server) consoleReport(w http.ResponseWriter, r *http.Request, p peer, c *reportCache) {
	now := s.clock.Now()
	name, format := r.URL.Query().Get("range"), r.URL.Query().Get("format")
	rg, ok := historyRanges[name]
	if !ok {
		s.fail(w, r, p, codes.Errorf(codes.RequestMalformed, "range %q: want day, week or month", truncate(name, 16)))
		return
	}
	if format == "signed" {
		s.consoleSigned(w, r, p, now, rg.span, rg.by)
		return
	}
	rep, err := s.rangeReport(r.Context(), c, name, now, true)
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	file := reportFile(rep.From, rep.To)
	switch format {
	case "json":
		w.Header().Set("Content-Disposition", `attachment; filename="`+file+`.json"`)
		writeJSON(w, http.StatusOK, rep)
	case "csv":
		w.Header().Set("Content-Disposition", `attachment; filename="`+file+`.csv"`)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		report.WriteCSV(w, rep)
	default:
		s.fail(w, r, p, codes.Errorf(codes.RequestMalformed, "format %q: want csv, json or signed", truncate(format, 16)))
	}
}

// consoleSigned answers with the signed usage report of the last span,
// as the admin API signs it; it begins at the first whole hour of the
// audit log when the log is younger than the span, since a signed report
// covers only what the log holds.
func (s *Server) consoleSigned(w http.ResponseWriter, r *http.Request, p peer, now time.Time, span time.Duration, by string) {
	src, ok := s.store.(report.Source)
	if !ok {
		s.fail(w, r, p, codes.Errorf(codes.StoreUnavailable, "this store keeps no usage reports"))
		return
	}
	q := reportQuery(s, now.Add(-span), now, by)
	var first time.Time
	stop := errors.New("stop")
	err := src.AuditBetween(r.Context(), time.Time{}, time.Time{}, func(e store.Event) error { first = e.Time; return stop })
	if err != nil && !errors.Is(err, stop) {
		s.fail(w, r, p, s.storeError(err))
		return
	}
	if start := first.UTC().Truncate(time.Hour); start.Before(first) {
		first = start.Add(time.Hour)
	}
	if q.From.Before(first) {
		q.From = first
	}
	l := s.lic.Load()
	file, err := report.BuildSigned(r.Context(), src, q, report.SignOptions{Key: s.serverKey, License: l.compact})
	if err != nil {
		s.fail(w, r, p, reportError(err))
		return
	}
	s.log.Info("report", "code", 0, "signed", true, "holder", p.name, "via", "console")
	w.Header().Set("Content-Disposition", `attachment; filename="`+reportFile(q.From, q.To)+`.signed.json"`)
	writeBody(w, http.StatusOK, file)
}

// reportFile names a report's file, without its extension.
func reportFile(from, to time.Time) string {
	return "licensor-usage-" + from.UTC().Format("20060102T15") + "-" + to.UTC().Format("20060102T15")
}
