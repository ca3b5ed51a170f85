// Package pki is the site's private PKI: the certificates with which the
// site license server and its clients authenticate each other over mutual
// TLS.
//
// A site has one CA, made by InitSite and kept in a directory of its own
// (ca.crt, ca.key). The CA signs the server's certificate (server.crt,
// server.key), whose names are the host names and addresses clients dial,
// and one certificate per client (clients/NAME.crt, clients/NAME.key). A
// client certificate carries its role, what the client may ask the server,
// as exactly one URI SAN "urn:licensor:role:<role>": an instance authorizes
// and heartbeats, a renew host renews key files, an admin operates the
// server.
//
// Keys are ECDSA P-256, written as PKCS #8 PEM with mode 0600; certificates
// are PEM with mode 0644; every file is written atomically. Functions that
// look at the time take it as an argument, so tests never sleep.
//
// The Load functions and the TLS configurations are what the server and
// the SDK use at run time; their failures carry the codes operators look
// up: codes.CAFile for the CA bundle, codes.ClientCert for a client's own
// certificate, codes.ServerCert for the server's.
package pki

import (
	"crypto/x509"
	"net/url"
	"strings"

	"github.com/licensor/licensor/codes"
)

// Role is what a client certificate lets its holder ask the site server.
type Role string

// The roles.
const (
	// RoleInstance is a protected product instance: authorize, heartbeat,
	// release.
	RoleInstance Role = "instance"
	// RoleRenew is a host that renews key files.
	RoleRenew Role = "renew"
	// RoleAdmin is an operator: the admin endpoints.
	RoleAdmin Role = "admin"
)

// roleURIPrefix starts the URI SAN that names a certificate's role.
const roleURIPrefix = "urn:licensor:role:"

// ParseRole parses a role name. Failures are codes.InvalidArgument.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleInstance, RoleRenew, RoleAdmin:
		return r, nil
	}
	return "", codes.Errorf(codes.InvalidArgument, "unknown role %q; want instance, renew or admin", s)
}

// URI returns the URI SAN that carries r in a certificate.
func (r Role) URI() *url.URL {
	u, err := url.Parse(roleURIPrefix + string(r))
	if err != nil {
		panic("pki: role URI: " + err.Error()) // cannot happen for a parsed role
	}
	return u
}

// RoleOf returns the role a client certificate carries. A certificate with
// no role URI, with several, or with one licensor does not know fails with
// codes.ClientCert: only a certificate from 'licensor pki client' will do.
func RoleOf(cert *x509.Certificate) (Role, error) {
	var found []string
	for _, u := range cert.URIs {
		if s := u.String(); strings.HasPrefix(s, roleURIPrefix) {
			found = append(found, strings.TrimPrefix(s, roleURIPrefix))
		}
	}
	fix := "Issue a client certificate with 'licensor pki client --dir SITE_DIR --name NAME --role ROLE'."
	switch len(found) {
	case 0:
		return "", codes.Errorf(codes.ClientCert, "certificate %q carries no role (no %sROLE URI)", cert.Subject.CommonName, roleURIPrefix).WithFix(fix)
	case 1:
	default:
		return "", codes.Errorf(codes.ClientCert, "certificate %q carries %d roles (%s); a client certificate has exactly one", cert.Subject.CommonName, len(found), strings.Join(found, ", ")).WithFix(fix)
	}
	r, err := ParseRole(found[0])
	if err != nil {
		return "", codes.Errorf(codes.ClientCert, "certificate %q carries the unknown role %q", cert.Subject.CommonName, found[0]).WithFix(fix)
	}
	return r, nil
}
