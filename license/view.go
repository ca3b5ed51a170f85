package license

import (
	"time"

	"github.com/licensor/licensor/fingerprint"
)

// View is a license as JSON for operators: the shape of the site server's
// GET /security/license, with the seed's field names and every time in
// RFC 3339, UTC, to the second (JSONTime), never a local time without a
// zone.
type View struct {
	Info            string                `json:"info"`
	ID              string                `json:"id"`
	Holder          string                `json:"holder"`
	Issuer          string                `json:"issuer"`
	Issued          string                `json:"issued"`
	FingerType      int                   `json:"fingerType"`
	Machines        []fingerprint.Machine `json:"machines"`
	MatchMin        int                   `json:"matchMin"`
	VendorKeyID     string                `json:"vendorKeyId,omitempty"`
	ServerKeyID     string                `json:"serverKeyId,omitempty"`
	Nodes           []NodeView            `json:"nodes,omitempty"`
	ProductLicenses []ProductView         `json:"productLicenses"`
	KeyFile         *KeyFilePolicy        `json:"keyFile,omitempty"`
	// SecurityType is the binding in force: machine, token or
	// machine+token (License.Binding).
	SecurityType string        `json:"securityType"`
	Token        *TokenBinding `json:"token,omitempty"`
	// DogCount is how many tokens holding the license's key the server
	// saw at its last presence check; set by the server, and only for a
	// license that binds a token.
	DogCount *int `json:"dogCount,omitempty"`
}

// NodeView is one node of a cluster license in a View.
type NodeView struct {
	Name        string `json:"name,omitempty"`
	Code        string `json:"code"`
	ServerKeyID string `json:"serverKeyId"`
}

// ProductView is one product in a View.
type ProductView struct {
	Subject      string   `json:"subject"`
	Functions    []string `json:"functions"`
	InstanceSize int      `json:"instanceSize"`
	QPS          int      `json:"qps"`
	NotBefore    string   `json:"notBefore"`
	NotAfter     string   `json:"notAfter"`
}

// View returns the operator's view of l; vendorKeyID names the key that
// signed it.
func (l *License) View(vendorKeyID string) View {
	v := View{
		Info: "license", ID: l.ID, Holder: l.Holder, Issuer: l.Issuer,
		Issued: JSONTime(l.Issued), FingerType: l.FingerType,
		Machines: l.Machines, MatchMin: l.MatchMin,
		VendorKeyID: vendorKeyID, ServerKeyID: l.ServerKey.Kid,
		ProductLicenses: make([]ProductView, len(l.Products)), KeyFile: l.KeyFile,
		SecurityType: l.Binding(), Token: l.Token,
	}
	if l.IsCluster() {
		v.Machines = nil
		for _, n := range l.Cluster {
			v.Machines = append(v.Machines, n.Machine)
			v.Nodes = append(v.Nodes, NodeView{Name: n.Name, Code: n.Code, ServerKeyID: n.KeyID()})
		}
	}
	for i, p := range l.Products {
		v.ProductLicenses[i] = ProductView{
			Subject: p.Subject, Functions: p.Functions, InstanceSize: p.InstanceSize, QPS: p.QPS,
			NotBefore: JSONTime(p.NotBefore), NotAfter: JSONTime(p.NotAfter),
		}
	}
	return v
}

// JSONTime formats t as licensor's JSON carries times: RFC 3339 in UTC,
// to the second ("2026-12-01T21:13:09Z"). Text for a person uses
// FormatTime and says UTC.
func JSONTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
