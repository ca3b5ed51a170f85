package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/verdict"
)

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler {
	authorize := s.withRole(s.handleAuthorize, pki.RoleInstance)
	heartbeat := s.withRole(s.handleHeartbeat, pki.RoleInstance)
	release := s.withRole(s.handleRelease, pki.RoleInstance)
	mux := http.NewServeMux()
	mux.Handle("POST "+api.PathAuthorize, authorize)
	mux.Handle("POST "+api.PathHeartbeat, heartbeat)
	mux.Handle("POST "+api.PathRelease, release)
	mux.Handle("GET "+api.PathLicense, s.withRole(s.handleLicense))
	mux.Handle("GET "+api.PathJWKS, s.withRole(s.handleJWKS))
	mux.Handle("GET "+api.PathHealth, s.withRole(s.handleHealth))
	mux.Handle("GET "+api.PathReady, s.withRole(s.handleReady))
	mux.Handle("GET "+api.PathMetrics, s.withRole(s.handleMetrics))
	mux.Handle("POST "+api.PathKeyFile, s.withRole(s.handleKeyFile, pki.RoleRenew))
	mux.Handle("GET "+api.PathInstances, s.withRole(s.handleInstances, pki.RoleAdmin))
	mux.Handle("POST "+api.PathRevoke, s.withRole(s.handleRevoke, pki.RoleAdmin))
	mux.Handle("POST "+api.PathReload, s.withRole(s.handleReload, pki.RoleAdmin))
	s.routeConsole(mux)
	s.routeReport(mux)
	mux.Handle("/", s.withRole(func(w http.ResponseWriter, r *http.Request, p peer) {
		s.fail(w, r, p, codes.Errorf(codes.RequestMalformed, "no endpoint %s %s", r.Method, r.URL.Path).
			WithFix("Check the server URL; the SDK and 'licensor check' know the endpoints."))
	}))
	// The instance endpoints, nearly every request a server answers, are
	// found without the mux's pattern matching (a tenth of a heartbeat's
	// handler); every other request, and any path the mux would clean or
	// redirect, goes through it.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.RawPath == "" {
			switch r.URL.Path {
			case api.PathHeartbeat:
				heartbeat.ServeHTTP(w, r)
				return
			case api.PathAuthorize:
				authorize.ServeHTTP(w, r)
				return
			case api.PathRelease:
				release.ServeHTTP(w, r)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// peer is the client, from its certificate.
type peer struct {
	name string
	role pki.Role
}

type peerHandler func(w http.ResponseWriter, r *http.Request, p peer)

// withRole admits a client whose certificate carries one of roles (any
// role when none is given).
func (s *Server) withRole(h peerHandler, roles ...pki.Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			s.fail(w, r, peer{}, codes.Errorf(codes.ClientCert, "the request carries no client certificate"))
			return
		}
		cert := r.TLS.PeerCertificates[0]
		p := peer{name: cert.Subject.CommonName}
		role, err := pki.RoleOf(cert)
		if err != nil {
			s.fail(w, r, p, err)
			return
		}
		p.role = role
		if len(roles) > 0 && !hasRole(roles, role) {
			s.fail(w, r, p, codes.Errorf(codes.RoleForbidden, "%s %s needs a client certificate with role %s; %q has role %s", r.Method, r.URL.Path, roles[0], p.name, role))
			return
		}
		h(w, r, p)
	})
}

func hasRole(roles []pki.Role, r pki.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

// decode reads a JSON body into v: codes.RequestTooLarge past the limit,
// codes.RequestMalformed for anything but one JSON object of v's shape.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return decodeJSON(data, v)
}

// decodeInstance reads the body of authorize, heartbeat and release, as
// decode does but without reflection.
func (s *Server) decodeInstance(w http.ResponseWriter, r *http.Request) (api.InstanceRequest, error) {
	buf := buffers.Get().(*[]byte)
	defer putBuffer(buf)
	data, err := s.readBodyInto(w, r, (*buf)[:0])
	*buf = data
	if err != nil {
		return api.InstanceRequest{}, err
	}
	return decodeInstanceRequest(data) // copies what it keeps
}

// buffers holds the byte slices the instance endpoints read requests and
// write answers in: every heartbeat and authorize needs one of each, and
// reusing them spares two allocations of a kilobyte or so per request.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// putBuffer returns buf to buffers, unless a large license or request
// grew it past what is worth keeping.
func putBuffer(buf *[]byte) {
	if cap(*buf) <= 64<<10 {
		buffers.Put(buf)
	}
}

// readBody reads the request's body, up to the configured bound.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return s.readBodyInto(w, r, make([]byte, 0, 512))
}

// readBodyInto is readBody appending to dst.
func (s *Server) readBodyInto(w http.ResponseWriter, r *http.Request, dst []byte) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	data, err := readAll(body, dst)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, codes.Errorf(codes.RequestTooLarge, "the body is larger than %d bytes", s.cfg.MaxBodyBytes)
		}
		return nil, codes.Errorf(codes.RequestMalformed, "cannot read the body: %w", err)
	}
	return data, nil
}

// jsonField names the field a decoding error is about, in licensor's
// words, for the public message (the decoder's own text stays in the
// cause).
func jsonField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf(" (field %q has the wrong type)", te.Field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf(" (not JSON at byte %d)", se.Offset)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return fmt.Sprintf(" (unknown field %s)", strings.TrimPrefix(msg, "json: unknown field "))
	}
	return ""
}

func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return codes.Errorf(codes.RequestMalformed, "the body is not the JSON object expected%s: %w", jsonField(err), err)
	}
	if dec.More() {
		return codes.Errorf(codes.RequestMalformed, "data after the body's JSON object")
	}
	return nil
}

// validate checks an instance request's identifiers.
func validate(req *api.InstanceRequest) error {
	if err := validateSeat(req.Product, req.InstanceID); err != nil {
		return err
	}
	if strings.HasPrefix(req.InstanceID, store.KeyFileSeatPrefix) {
		return codes.Errorf(codes.RequestMalformed, "instance_id %q: ids beginning with %q name key-file hosts' seats, which only the key-file path holds", req.InstanceID, store.KeyFileSeatPrefix).
			WithFix("Give the instance another id (LICENSOR_INSTANCE_ID); a key-file host's seat is kept by 'licensor renew' and ended by its key file's expiry.")
	}
	switch {
	case len(req.Nonce) > 128 || len(req.HaveLicense) > 128:
		return codes.Errorf(codes.RequestTooLarge, "nonce and have_license are at most 128 bytes")
	case req.Mode != "" && req.Mode != "sync" && req.Mode != "async":
		return codes.Errorf(codes.RequestMalformed, "mode %q: want \"sync\" or \"async\"", req.Mode)
	case req.Calls < 0:
		return codes.Errorf(codes.RequestMalformed, "calls %d is negative", req.Calls)
	}
	return nil
}

// validateSeat checks the product and seat id a request names.
func validateSeat(product, id string) error {
	switch {
	case len(product) > store.MaxProductLen || len(id) > store.MaxInstanceLen:
		return codes.Errorf(codes.RequestTooLarge, "product (at most %d bytes) and instance_id (%d) are bounded", store.MaxProductLen, store.MaxInstanceLen)
	case !license.ValidName(product):
		return codes.Errorf(codes.RequestMalformed, "product %q: want 1 to 64 letters, digits, '.', '_' or '-'", product)
	case !store.ValidID(id, store.MaxInstanceLen):
		return codes.Errorf(codes.RequestMalformed, "instance_id %q: want 1 to 128 printable characters without spaces or quotes", id)
	}
	return nil
}

// admit runs the checks every instance request passes: the body, the
// clock, the product's place in the license and its dates, QPS mode.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, now time.Time) (*api.InstanceRequest, *loaded, license.Product, error) {
	req, err := s.decodeInstance(w, r)
	if err != nil {
		return &req, nil, license.Product{}, err
	}
	if err := validate(&req); err != nil {
		return &req, nil, license.Product{}, err
	}
	if err := s.checkClock(now); err != nil {
		return &req, nil, license.Product{}, err
	}
	l := s.lic.Load()
	if err := l.license.CheckProduct(req.Product, now); err != nil {
		return &req, l, license.Product{}, err
	}
	p, _ := l.license.Product(req.Product)
	return &req, l, p, nil
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request, p peer) {
	start, now := time.Now(), s.clock.Now()
	req, l, prod, err := s.admit(w, r, now)
	if err == nil && prod.QPS > 0 && req.Mode != "async" {
		err = codes.Errorf(codes.QPSNeedsAsync, "product %q is licensed with QPS control (%d/s); this client asks in sync mode", req.Product, prod.QPS)
	}
	if err != nil {
		s.deny(w, r, p, req, now, err)
		return
	}
	// The verdict is signed while the grant is committed. With QPS
	// control its share depends on the seats held, so it waits.
	var a granted
	var decided func(store.Grant)
	if prod.QPS == 0 {
		decided = func(g store.Grant) { a.make(s, req, l, prod, g, now) }
	}
	g, err := s.store.Acquire(r.Context(), store.AcquireRequest{
		Product: req.Product, InstanceID: req.InstanceID, Kind: store.SeatInstance, Holder: p.name,
		Limit: prod.InstanceSize, TTL: time.Duration(s.cfg.LeaseTTL), Now: now, Decided: decided,
	})
	if err != nil {
		s.deny(w, r, p, req, now, s.storeError(err))
		return
	}
	if prod.QPS > 0 {
		s.usage.start(g.Lease, now)
	}
	s.grant(w, r, p, req, l, prod, g, &a, now, start)
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request, p peer) {
	start, now := time.Now(), s.clock.Now()
	req, l, prod, err := s.admit(w, r, now)
	if err != nil {
		s.deny(w, r, p, req, now, err)
		return
	}
	g, err := s.store.Renew(r.Context(), store.RenewRequest{Product: req.Product, InstanceID: req.InstanceID, Holder: p.name,
		TTL: time.Duration(s.cfg.LeaseTTL), Now: now})
	if err != nil {
		s.deny(w, r, p, req, now, s.storeError(err))
		return
	}
	if prod.QPS > 0 {
		if err := s.usage.report(g.Lease, req.Calls, share(prod, g.Held), now); err != nil {
			s.deny(w, r, p, req, now, err)
			return
		}
	}
	var a granted
	if renewalOnly(req, l) {
		a.renew(s, prod, g)
	}
	s.grant(w, r, p, req, l, prod, g, &a, now, start)
}

// renewalOnly reports whether a heartbeat is answered with the renewal
// alone, unsigned: the client said it needs no verdict ("verdict": false),
// and it holds the license in force. A client that sends no "verdict"
// (older SDKs) gets a signed verdict on every heartbeat, as before; one
// whose license is not the one in force gets the verdict and the license
// whatever it asked, so that a license change always reaches the product
// signed and bound to its request.
func renewalOnly(req *api.InstanceRequest, l *loaded) bool {
	return req.Verdict != nil && !*req.Verdict && req.HaveLicense == l.license.ID
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request, p peer) {
	now := s.clock.Now()
	req, err := s.decodeInstance(w, r)
	if err == nil {
		err = validate(&req)
	}
	if err != nil {
		s.deny(w, r, p, &req, now, err)
		return
	}
	_, err = s.store.Release(r.Context(), store.ReleaseRequest{Product: req.Product, InstanceID: req.InstanceID, Reason: store.KindRelease, Actor: p.name, Now: now})
	released := err == nil
	if err != nil && !errors.Is(err, store.ErrNoLease) {
		s.deny(w, r, p, &req, now, s.storeError(err))
		return
	}
	s.usage.stop(req.Product, req.InstanceID)
	s.metrics.result(req.Product, codes.OK)
	s.log.Info("release", "code", 0, "product", req.Product, "instance", req.InstanceID, "holder", p.name, "released", released)
	answer := releasedAnswer
	if !released {
		answer = notHeldAnswer
	}
	writeBody(w, http.StatusOK, answer)
}

// The two answers a release gets, as writeJSON would write them (keys in
// order), made once rather than marshalled from a map for every release.
var (
	releasedAnswer = []byte(`{"code":0,"name":"ok","released":true}` + "\n")
	notHeldAnswer  = []byte(`{"code":0,"name":"ok","released":false}` + "\n")
)

// share is one instance's part of the product's QPS when held instances
// share it.
func share(p license.Product, held int) float64 {
	if p.QPS <= 0 {
		return 0
	}
	return float64(p.QPS) / float64(max(held, 1))
}

// granted is a granted verdict's body, made while its grant is committed,
// or a heartbeat's renewal (no verdict).
type granted struct {
	body api.VerdictBody
	made bool
}

// make signs the verdict for g into a.
func (a *granted) make(s *Server, req *api.InstanceRequest, l *loaded, prod license.Product, g store.Grant, now time.Time) {
	a.renew(s, prod, g)
	lease := g.Lease
	c := &verdict.Claims{
		Issuer: verdict.Issuer, Subject: req.InstanceID, Audience: verdict.Audience(req.Product),
		IssuedAt: now.Unix(), NotBefore: now.Add(-time.Minute).Unix(), Expires: lease.Expires.Unix(),
		ID: verdict.NewID(), Nonce: req.Nonce, Product: req.Product, Functions: prod.Functions,
		LicenseID: l.license.ID, Lease: lease.Expires.Unix(), QPS: share(prod, g.Held), Machine: l.machine,
	}
	a.body.Verdict = s.signer.Sign(c)
	if req.HaveLicense != l.license.ID {
		a.body.License = l.compact
	}
}

// renew puts the renewal of g into a: the lease and the QPS share, with
// no verdict.
func (a *granted) renew(s *Server, prod license.Product, g store.Grant) {
	lease := g.Lease
	a.body = api.VerdictBody{Code: 0, Name: "ok", Lease: api.LeaseBody{
		Product: lease.Product, InstanceID: lease.InstanceID, Since: lease.Since, Expires: lease.Expires, Resumed: g.Resumed,
		HeartbeatIn: (time.Duration(s.cfg.LeaseTTL) / 3).Seconds(), Limit: prod.InstanceSize, Held: g.Held,
	}}
	if prod.QPS > 0 {
		a.body.QPS = &api.QPSBody{Licensed: prod.QPS, Share: share(prod, g.Held)}
	}
	a.made = true
}

// grant answers with the verdict for g (a, when its verdict is made).
func (s *Server) grant(w http.ResponseWriter, r *http.Request, p peer, req *api.InstanceRequest, l *loaded, prod license.Product, g store.Grant, a *granted, now, start time.Time) {
	if !a.made {
		a.make(s, req, l, prod, g, now)
	}
	body := &a.body
	lease, resumed := g.Lease, g.Resumed
	s.metrics.result(req.Product, codes.OK)
	action := "authorize"
	if r.URL.Path == api.PathHeartbeat {
		action = "heartbeat"
	}
	level := slog.LevelInfo
	if resumed {
		level = slog.LevelDebug // renewals are routine; grants are news
	}
	if s.log.Enabled(r.Context(), level) {
		s.log.Log(r.Context(), level, action, "code", 0, "product", req.Product, "instance", req.InstanceID, "holder", p.name,
			"resumed", resumed, "held", g.Held, "expires", lease.Expires.UTC().Format(time.RFC3339), "signed", body.Verdict != "", "took", time.Since(start).String())
	}
	buf := buffers.Get().(*[]byte)
	*buf = append(appendVerdictBody((*buf)[:0], body), '\n')
	writeBody(w, http.StatusOK, *buf) // the answer is copied into the connection's buffer, or sent, before Write returns
	putBuffer(buf)
}

// readAll appends what r reads to dst until EOF, as io.ReadAll does.
func readAll(r io.Reader, dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// storeError maps a store failure to its code.
func (s *Server) storeError(err error) error {
	var full *store.FullError
	var owner *store.OwnerError
	var revoked *store.RevokedError
	switch {
	case errors.As(err, &full):
		return &poolFull{full}
	case errors.As(err, &owner) && owner.Kind != owner.Lease.Kind:
		return codes.Errorf(codes.LeaseNotOwned, "%q of %q is a key-file host's seat, held until its key file expires at %s; only the key-file path holds it",
			owner.InstanceID, owner.Product, owner.Expires.UTC().Format(time.RFC3339))
	case errors.As(err, &owner):
		return codes.Errorf(codes.LeaseNotOwned, "instance %q of %q holds its seat under the client certificate %q; this request comes with %q, and the seat is left as it was",
			owner.InstanceID, owner.Product, owner.Holder, owner.Asker)
	case errors.As(err, &revoked):
		return codes.Errorf(codes.KeyFileRevoked, "an operator (%q) revoked this host's key-file seat of %q at %s; it is not renewed, and stays counted until the key file it holds expires at %s",
			revoked.RevokedBy, revoked.Product, revoked.Revoked.UTC().Format(time.RFC3339), revoked.Expires.UTC().Format(time.RFC3339))
	case errors.Is(err, store.ErrNoLease):
		return codes.Errorf(codes.LeaseUnknown, "this instance holds no live lease (released, revoked, or lapsed)").
			WithFix("Register again with " + api.PathAuthorize + "; the SDK does so by itself.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return codes.Errorf(codes.Unknown, "the request was cancelled: %w", err)
	}
	return codes.Errorf(codes.StoreUnavailable, "the store failed: %w", err)
}

// poolFull is code 501 with the pool's details.
type poolFull struct{ *store.FullError }

func (f *poolFull) codeError() *codes.Error {
	return codes.Errorf(codes.InstanceLimit, "%d of %d instances of %q hold a lease; the first lapses at %s unless renewed",
		f.Held, f.Limit, f.Product, f.OldestExpires.UTC().Format(time.RFC3339))
}

func (f *poolFull) Error() string { return f.codeError().Error() }

// deny answers with err's code, logs it and records it in the audit log.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, p peer, req *api.InstanceRequest, now time.Time, err error) {
	body, status := errorBody(err)
	s.metrics.result(s.productLabel(req.Product), codes.Code(body.Code))
	s.log.Warn("deny", "code", body.Code, "name", body.Name, "product", req.Product, "instance", req.InstanceID, "holder", p.name, "path", r.URL.Path, "err", logText(err))
	ev := store.Event{Time: now, Kind: store.KindDeny, Product: truncate(req.Product, 64), InstanceID: truncate(req.InstanceID, 128), Actor: p.name, Code: body.Code, Detail: truncate(body.Message, 512)}
	if rerr := s.store.Record(context.WithoutCancel(r.Context()), ev); rerr != nil {
		s.log.Error("audit", "code", int(codes.StoreUnavailable), "name", codes.StoreUnavailable.Name(), "err", rerr)
	}
	writeJSON(w, status, body)
}

// productLabel is the metrics label for a product a client named: the
// name when the license has it, else "".
func (s *Server) productLabel(name string) string {
	if _, ok := s.lic.Load().license.Product(name); ok {
		return name
	}
	return ""
}

// fail answers a request that never reached a decision (no certificate,
// wrong role, no such endpoint).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, p peer, err error) {
	body, status := errorBody(err)
	s.metrics.result("", codes.Code(body.Code))
	s.log.Warn("refuse", "code", body.Code, "name", body.Name, "holder", p.name, "path", r.URL.Path, "err", logText(err))
	writeJSON(w, status, body)
}

// logText is what a log line says of err: the public message and, after
// it, the internal cause the wire never carries.
func logText(err error) string { return codes.As(err).Detail() }

func errorBody(err error) (api.ErrorBody, int) {
	var full *poolFull
	if errors.As(err, &full) {
		e := full.codeError()
		t := full.OldestExpires.UTC()
		return api.ErrorBody{Code: int(e.Code), Name: e.Code.Name(), Message: e.Msg, Fix: e.FixText(), Held: full.Held, Limit: full.Limit, OldestExpires: &t}, e.Code.HTTPStatus()
	}
	e := codes.As(err)
	return api.ErrorBody{Code: int(e.Code), Name: e.Code.Name(), Message: e.Msg, Fix: e.FixText()}, e.Code.HTTPStatus()
}

func (s *Server) handleLicense(w http.ResponseWriter, r *http.Request, p peer) {
	writeJSON(w, http.StatusOK, s.licenseView())
}

// JWKS is the server's key set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWK is one published key.
type JWK struct {
	keys.JWK
	Use string `json:"use"`
	Alg string `json:"alg"`
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request, p peer) {
	jwk := keys.PublicJWK(s.serverKey.Public().(ed25519.PublicKey))
	writeJSON(w, http.StatusOK, JWKS{Keys: []JWK{{JWK: jwk, Use: "sig", Alg: "EdDSA"}}})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, p peer) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request, p peer) {
	now := s.clock.Now()
	if !s.ready.Load() {
		s.fail(w, r, p, codes.Errorf(codes.StoreUnavailable, "the server is starting or shutting down"))
		return
	}
	s.checkCluster(r.Context())
	s.followLicense(r.Context())
	if err := s.checkClock(now); err != nil {
		s.fail(w, r, p, err)
		return
	}
	if _, err := s.store.Held(r.Context(), now); err != nil {
		s.fail(w, r, p, s.storeError(err))
		return
	}
	l := s.lic.Load()
	body := map[string]any{"status": "ready", "license": l.license.ID, "holder": l.license.Holder}
	if st, ok := s.tokenStatus(); ok {
		body["token"] = st
	}
	writeJSON(w, http.StatusOK, body)
}

// InstancesBody lists the pool, product by product.
type InstancesBody struct {
	Products []ProductPool `json:"products"`
	// Nodes lists the servers sharing the store, when there are several.
	Nodes []store.NodeInfo `json:"nodes,omitempty"`
	// Node is the server that answered.
	Node string `json:"node,omitempty"`
}

// ProductPool is one product's pool as operators see it: the seats held
// by instances and those held by key-file hosts, apart. Held counts both.
type ProductPool struct {
	Product      string        `json:"product"`
	Limit        int           `json:"limit"`
	Held         int           `json:"held"`
	QPS          int           `json:"qps"`
	QPSUsed      float64       `json:"qps_used"`
	NotAfter     string        `json:"not_after"`
	Instances    []store.Lease `json:"instances"`
	KeyFileHosts []store.Lease `json:"keyfile_hosts"`
}

// newPool sorts a product's leases into its two kinds of seats.
func newPool(product string, leases []store.Lease) ProductPool {
	pp := ProductPool{Product: product, Held: len(leases), Instances: []store.Lease{}, KeyFileHosts: []store.Lease{}}
	for _, l := range leases {
		if l.Kind == store.SeatKeyFile {
			pp.KeyFileHosts = append(pp.KeyFileHosts, l)
		} else {
			pp.Instances = append(pp.Instances, l)
		}
	}
	return pp
}

func (s *Server) handleInstances(w http.ResponseWriter, r *http.Request, p peer) {
	now := s.clock.Now()
	leases, err := s.store.Leases(r.Context(), r.URL.Query().Get("product"), now)
	if err != nil {
		s.fail(w, r, p, s.storeError(err))
		return
	}
	l := s.lic.Load()
	byProduct := map[string][]store.Lease{}
	for _, ls := range leases {
		byProduct[ls.Product] = append(byProduct[ls.Product], ls)
	}
	var body InstancesBody
	for _, prod := range l.license.Products {
		if q := r.URL.Query().Get("product"); q != "" && q != prod.Subject {
			continue
		}
		pp := newPool(prod.Subject, byProduct[prod.Subject])
		pp.Limit, pp.QPS, pp.QPSUsed, pp.NotAfter = prod.InstanceSize, prod.QPS, s.qpsUsed(prod.Subject), license.JSONTime(prod.NotAfter)
		body.Products = append(body.Products, pp)
		delete(byProduct, prod.Subject)
	}
	for name, ls := range byProduct { // leases of products no longer licensed
		body.Products = append(body.Products, newPool(name, ls))
	}
	if cs, ok := s.store.(store.Cluster); ok {
		if body.Nodes, err = cs.Nodes(r.Context(), now); err != nil {
			s.fail(w, r, p, s.storeError(err))
			return
		}
		body.Node = cs.Node()
	}
	writeJSON(w, http.StatusOK, body)
}

// RevokeRequest is the body of an admin revoke.
type RevokeRequest struct {
	Product    string `json:"product"`
	InstanceID string `json:"instance_id"`
	// Reason, when given, is kept in the revoke's audit event.
	Reason string `json:"reason,omitempty"`
}

// RevokeBody is a revoke's answer. An instance's seat is freed at once; a
// key-file host's stays counted until the key file it holds expires
// (CountedUntil), since that key file works offline, and is not renewed.
type RevokeBody struct {
	Code         int            `json:"code"`
	Name         string         `json:"name"`
	Revoked      bool           `json:"revoked"`
	Kind         store.SeatKind `json:"kind"`
	Holder       string         `json:"holder"`
	Freed        bool           `json:"freed"`
	CountedUntil time.Time      `json:"counted_until,omitzero"`
	Message      string         `json:"message"`
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request, p peer) {
	now := s.clock.Now()
	var rr RevokeRequest
	err := s.decode(w, r, &rr)
	req := &api.InstanceRequest{Product: rr.Product, InstanceID: rr.InstanceID}
	if err == nil {
		err = validateRevoke(rr)
	}
	var l store.Lease
	if err == nil {
		l, err = s.store.Release(r.Context(), store.ReleaseRequest{Product: rr.Product, InstanceID: rr.InstanceID, Reason: store.KindRevoke, Actor: p.name, Now: now, Note: rr.Reason})
		if err != nil {
			err = s.storeError(err)
		}
	}
	if err != nil {
		s.deny(w, r, p, req, now, err)
		return
	}
	body := RevokeBody{Name: "ok", Revoked: true, Kind: l.Kind, Holder: l.Holder, Freed: l.Kind != store.SeatKeyFile}
	if body.Freed {
		s.usage.stop(rr.Product, rr.InstanceID)
		body.Message = fmt.Sprintf("the seat of %s in %s is free", rr.InstanceID, rr.Product)
	} else {
		body.CountedUntil = l.Expires.UTC()
		body.Message = fmt.Sprintf("the key-file host %s is revoked: its renewals are refused, but the key file it holds works offline until %s UTC, and its seat in %s stays counted until then",
			strings.TrimPrefix(rr.InstanceID, store.KeyFileSeatPrefix), license.FormatTime(l.Expires), rr.Product)
	}
	s.log.Info("revoke", "code", 0, "product", rr.Product, "instance", rr.InstanceID, "kind", string(l.Kind), "by", p.name, "freed", body.Freed,
		"counted_until", l.Expires.UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleReload(w http.ResponseWriter, r *http.Request, p peer) {
	if err := s.Reload(r.Context()); err != nil {
		s.fail(w, r, p, err)
		return
	}
	writeJSON(w, http.StatusOK, s.lic.Load().view)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, p peer) {
	s.metrics.handler.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(fmt.Sprintf(`{"code":-1,"name":"unknown","message":%q}`, err.Error()))
	}
	writeBody(w, status, append(b, '\n'))
}

// contentJSON is the Content-Type of every answer, shared rather than made
// anew for each.
var contentJSON = []string{"application/json"}

// writeBody writes a JSON answer.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = contentJSON
	w.WriteHeader(status)
	w.Write(body)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
