package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/store"
)

// handleKeyFile issues a key file to a host that asks with a renew-role
// certificate, when the license's key-file policy (if any) names the host;
// the key file is valid for the policy's validity, else the server's
// keyfile_validity. The host takes a seat in each product's pool for the key
// file's validity, so key-file hosts count against instanceSize; a daily
// renewal keeps the seat, a host that stops renewing frees it when the key
// file lapses.
func (s *Server) handleKeyFile(w http.ResponseWriter, r *http.Request, p peer) {
	now := s.clock.Now()
	var req api.KeyFileRequest
	ireq := &keyFileLog{}
	err := s.decode(w, r, &req)
	if err == nil {
		err = validateKeyFileRequest(&req)
	}
	ireq.InstanceID = store.KeyFileSeat(req.MachineCode)
	if err == nil {
		err = s.checkClock(now)
	}
	if err != nil {
		s.deny(w, r, p, ireq.instanceRequest(), now, err)
		return
	}
	l := s.lic.Load()
	if policy := l.license.KeyFile; !policy.AllowsHost(req.MachineCode) {
		s.deny(w, r, p, ireq.instanceRequest(), now, codes.Errorf(codes.KeyFileHostRefused,
			"machine code %s is not among the %d key-file hosts the license names", req.MachineCode, len(policy.Hosts)))
		return
	}
	names := req.Products
	if len(names) == 0 {
		names = l.license.Subjects()
	}
	// The license's validity, when it gives one, overrides the server's.
	validity := time.Duration(s.cfg.KeyFileValidity)
	if v := l.license.KeyFile.Validity(); v > 0 {
		validity = v
	}
	var granted []keyfile.Product
	var refused []string
	var full error
	for _, name := range names {
		ireq.Product = name
		prod, ok := l.license.Product(name)
		if err := l.license.CheckProduct(name, now); err != nil {
			if len(req.Products) > 0 || !ok {
				s.deny(w, r, p, ireq.instanceRequest(), now, err)
				return
			}
			continue // all products asked for: leave out those not valid now
		}
		_, err := s.store.Acquire(r.Context(), store.AcquireRequest{Product: name, InstanceID: store.KeyFileSeat(req.MachineCode),
			Kind: store.SeatKeyFile, Holder: p.name, Limit: prod.InstanceSize, TTL: validity, Now: now})
		var fe *store.FullError
		switch {
		case errors.As(err, &fe):
			refused, full = append(refused, name), s.storeError(err)
			continue
		case err != nil:
			s.deny(w, r, p, ireq.instanceRequest(), now, s.storeError(err))
			return
		}
		granted = append(granted, keyfile.Product{Subject: name, Functions: prod.Functions, NotAfter: prod.NotAfter.Unix()})
	}
	if len(granted) == 0 {
		if full == nil {
			full = codes.Errorf(codes.ProductUnlicensed, "no product of the license is valid now")
		}
		s.deny(w, r, p, ireq.instanceRequest(), now, full)
		return
	}
	c := &keyfile.Claims{Machine: req.MachineCode, Components: req.Components, MatchMin: hostMatch(req.Components),
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(validity).Unix(), License: l.compact, Products: granted}
	file, err := keyfile.Issue(s.serverKey, c)
	if err != nil {
		s.deny(w, r, p, ireq.instanceRequest(), now, codes.Errorf(codes.Unknown, "cannot sign the key file: %w", err))
		return
	}
	body := api.KeyFileBody{Code: 0, Name: "ok", KeyFile: string(file), Expires: now.Add(validity).UTC(), Refused: refused}
	for _, g := range granted {
		body.Products = append(body.Products, g.Subject)
		s.metrics.result(g.Subject, codes.OK)
	}
	s.log.Info("keyfile", "code", 0, "machine", req.MachineCode, "holder", p.name, "products", body.Products, "refused", refused,
		"expires", body.Expires.Format(time.RFC3339))
	writeJSON(w, http.StatusOK, body)
}

// keyFileLog names a key-file request in denials and logs.
type keyFileLog struct{ Product, InstanceID string }

func (i *keyFileLog) instanceRequest() *api.InstanceRequest {
	return &api.InstanceRequest{Product: i.Product, InstanceID: i.InstanceID}
}

func validateKeyFileRequest(req *api.KeyFileRequest) error {
	if !fingerprint.ValidCode(req.MachineCode) {
		return codes.Errorf(codes.RequestMalformed, "machine_code %q is not a 32-hex machine code", truncate(req.MachineCode, 40))
	}
	if len(req.Components) > 16 || len(req.Products) > license.MaxProducts {
		return codes.Errorf(codes.RequestTooLarge, "at most 16 components and %d products", license.MaxProducts)
	}
	for name, h := range req.Components {
		if !fingerprint.ValidHash(h) || len(name) == 0 || len(name) > 32 {
			return codes.Errorf(codes.RequestMalformed, "components[%q] is not a component hash", truncate(name, 32))
		}
	}
	if len(req.Components) > 0 && fingerprint.CodeOf(req.Components) != req.MachineCode {
		return codes.Errorf(codes.RequestMalformed, "machine_code does not follow from its components")
	}
	for _, p := range req.Products {
		if !license.ValidName(p) {
			return codes.Errorf(codes.RequestMalformed, "product %q: want 1 to 64 letters, digits, '.', '_' or '-'", truncate(p, 64))
		}
	}
	return nil
}

// hostMatch is how many of a host's components must still match its key
// file: all but one when four or more were recorded, else all.
func hostMatch(components map[string]string) int {
	if n := len(components); n >= 4 {
		return n - 1
	}
	return 0
}
