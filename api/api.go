// Package api is the site server's wire format: the paths and the JSON
// bodies that the server, the SDK and the tools exchange. It imports
// nothing, so the SDK that products link stays small.
package api

import "time"

// The paths. Every body is JSON; every failure is an ErrorBody with the
// code's HTTP status.
const (
	PathAuthorize = "/v1/authorize"
	PathHeartbeat = "/v1/heartbeat"
	PathRelease   = "/v1/release"
	PathLicense   = "/security/license"
	PathJWKS      = "/.well-known/jwks.json"
	PathHealth    = "/healthz"
	PathReady     = "/readyz"
	PathMetrics   = "/metrics"
	PathInstances = "/v1/admin/instances"
	PathRevoke    = "/v1/admin/revoke"
	PathReload    = "/v1/admin/reload"
	PathKeyFile   = "/v1/keyfile"
	// PathReport is the usage report (admin role): from, to, product, by,
	// format (json or csv) and signed=1 in the query.
	PathReport = "/v1/admin/report"
	// PathGrant is the vendor whitelist service's endpoint: the body is the
	// site server's activation request, the answer a GrantBody.
	PathGrant = "/v1/grant"
)

// InstanceRequest is the body of authorize, heartbeat and release.
type InstanceRequest struct {
	Product    string `json:"product"`
	InstanceID string `json:"instance_id"`
	// Mode is "sync" (each check asks the server; the default) or "async"
	// (the SDK refreshes in the background and answers from memory).
	Mode string `json:"mode,omitempty"`
	// Nonce, when set, is echoed in the verdict so the client can refuse
	// a replayed answer.
	Nonce string `json:"nonce,omitempty"`
	// HaveLicense is the id of the license the client holds; the answer
	// leaves the license out when it is the one in force.
	HaveLicense string `json:"have_license,omitempty"`
	// Calls is how many checks the instance answered since its last
	// heartbeat (async mode), for QPS accounting.
	Calls int64 `json:"calls,omitempty"`
	// Verdict, on a heartbeat, says whether the answer must carry a new
	// signed verdict. Absent or true, it does, as every heartbeat did
	// before the field existed. False asks for the renewal alone: the
	// lease's new expiry and the QPS share, nothing signed (the server
	// still signs when the license the client holds is not the one in
	// force). Authorize always answers with a verdict.
	Verdict *bool `json:"verdict,omitempty"`
}

// VerdictBody is a granted authorization, or a heartbeat's renewal. A
// renewal (the answer to a heartbeat sent with "verdict": false) has no
// verdict and no license: it moves the lease's expiry and the QPS share,
// and vouches for nothing else.
type VerdictBody struct {
	Code    int       `json:"code"`
	Name    string    `json:"name"`
	Verdict string    `json:"verdict,omitempty"`
	License string    `json:"license,omitempty"`
	Lease   LeaseBody `json:"lease"`
	QPS     *QPSBody  `json:"qps,omitempty"`
}

// LeaseBody describes the seat.
type LeaseBody struct {
	Product     string    `json:"product"`
	InstanceID  string    `json:"instance_id"`
	Since       time.Time `json:"since"`
	Expires     time.Time `json:"expires"`
	Resumed     bool      `json:"resumed"`
	HeartbeatIn float64   `json:"heartbeat_in_seconds"`
	Held        int       `json:"held"`
	Limit       int       `json:"limit"`
}

// QPSBody is the instance's share of the licensed QPS.
type QPSBody struct {
	Licensed int     `json:"licensed"`
	Share    float64 `json:"share"`
}

// ErrorBody is every failure's body.
type ErrorBody struct {
	Code    int    `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
	// Pool-full details (code 501).
	Held          int        `json:"held,omitempty"`
	Limit         int        `json:"limit,omitempty"`
	OldestExpires *time.Time `json:"oldest_expires,omitempty"`
}

// KeyFileRequest asks for a key file for one host (role renew).
type KeyFileRequest struct {
	MachineCode string            `json:"machine_code"`
	Components  map[string]string `json:"components,omitempty"`
	// Products limits the key file to these products; empty: every
	// product of the license.
	Products []string `json:"products,omitempty"`
}

// KeyFileBody is an issued key file.
type KeyFileBody struct {
	Code     int       `json:"code"`
	Name     string    `json:"name"`
	KeyFile  string    `json:"keyfile"` // the armored file, to write as it is
	Expires  time.Time `json:"expires"`
	Products []string  `json:"products"`
	// Refused lists the products whose pool was full.
	Refused []string `json:"refused,omitempty"`
}

// GrantBody is the vendor whitelist service's answer: a license for the
// machine that asked, valid until the contract's end plus the grace period.
type GrantBody struct {
	Code        int       `json:"code"`
	Name        string    `json:"name"`
	License     string    `json:"license"` // the armored license file
	Customer    string    `json:"customer"`
	ContractEnd time.Time `json:"contract_end"`
	NotAfter    time.Time `json:"not_after"`
}
