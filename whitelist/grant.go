package whitelist

import (
	"crypto/ed25519"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/license"
)

// PathGrant is the endpoint a site server in upstream mode posts its
// activation request to.
const PathGrant = api.PathGrant

// Issuer is the issuer of every license the service grants.
const Issuer = "vendor whitelist"

// Grant answers an activation request (the JSON 'licensor
// activation-request' prints) at now: a license signed by vendor, bound to
// the request's machine and server key, whose products run to the
// contract's end plus grace. Failures are codes.RequestMalformed for a bad
// request, codes.NotWhitelisted for a machine code with no approval or a
// revoked one, codes.GrantExpired when the contract's end plus grace has
// passed, and codes.StoreUnavailable.
func Grant(approvals Approvals, vendor ed25519.PrivateKey, grace time.Duration, body []byte, now time.Time) (*api.GrantBody, error) {
	g, _, err := grant(approvals, vendor, grace, body, now)
	return g, err
}

// grant is Grant that also returns the license, for the log.
func grant(approvals Approvals, vendor ed25519.PrivateKey, grace time.Duration, body []byte, now time.Time) (*api.GrantBody, *license.License, error) {
	req, err := license.ParseRequest(body)
	if err != nil {
		return nil, nil, err
	}
	a, ok, err := approvals.Get(req.MachineCode)
	if err != nil {
		return nil, nil, err
	}
	fix := "Send the machine code " + req.MachineCode + " to the vendor and ask them to approve it ('licensor fingerprint' prints it on the first line)."
	switch {
	case !ok:
		return nil, nil, codes.Errorf(codes.NotWhitelisted, "machine code %s is not approved by the vendor's whitelist service: send it to the vendor", req.MachineCode).WithFix(fix)
	case a.Revoked != nil:
		return nil, nil, codes.Errorf(codes.NotWhitelisted, "machine code %s is not approved any more (revoked %s UTC): send it to the vendor", req.MachineCode, license.FormatTime(*a.Revoked)).WithFix(fix)
	}
	notAfter := a.Until.Add(grace).UTC().Truncate(time.Second)
	if now.After(notAfter) {
		return nil, nil, codes.Errorf(codes.GrantExpired, "the contract of %s ended %s UTC and its grace period ran out %s UTC", a.Customer, license.FormatTime(a.Until), license.FormatTime(notAfter))
	}
	l := &license.License{
		Holder: a.Customer, Issuer: Issuer, Issued: now,
		Machines:  []fingerprint.Machine{req.Machine()},
		MatchMin:  matchMin(len(req.Components)),
		ServerKey: req.ServerKey,
	}
	for _, p := range a.Products {
		if p.NotBefore.IsZero() {
			p.NotBefore = now
		}
		p.NotAfter = notAfter
		l.Products = append(l.Products, p)
	}
	file, err := license.Sign(l, vendor)
	if err != nil {
		// The approval was checked when it was made: this is ours to fix.
		return nil, nil, codes.Errorf(codes.Unknown, "cannot sign the grant for %s: %s", req.MachineCode, codes.As(err).Msg)
	}
	return &api.GrantBody{
		Code: int(codes.OK), Name: codes.OK.Name(), License: string(file), Customer: a.Customer,
		ContractEnd: a.Until.UTC(), NotAfter: notAfter,
	}, l, nil
}

// matchMin tolerates one changed component when the machine recorded four
// or more, as 'licensor issue' does by default.
func matchMin(components int) int {
	if components >= 4 {
		return components - 1
	}
	return 0
}
