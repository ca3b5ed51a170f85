package license

import (
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/jsonread"
	"github.com/licensor/licensor/keys"
)

// decodeJSON decodes a signed license payload strictly (no unknown,
// repeated or mistyped fields, nothing after it). A product checking a key
// file offline decodes the license on every cold start, so the fields are
// read by hand rather than through reflection; FuzzDecode holds the result
// to encoding/json's meaning.
func decodeJSON(data string) (License, error) {
	var l License
	d := jsonread.NewDecoder(data)
	d.Object(func(name string) {
		switch name {
		case "info":
			l.Info = d.String()
		case "version":
			l.Version = d.Int()
		case "id":
			l.ID = d.String()
		case "holder":
			l.Holder = d.String()
		case "issuer":
			l.Issuer = d.String()
		case "issued":
			l.Issued = d.Time()
		case "fingerType":
			l.FingerType = d.Int()
		case "machines":
			if d.Null() {
				l.Machines = nil
				return
			}
			l.Machines = []fingerprint.Machine{}
			d.Array(func() { l.Machines = append(l.Machines, decodeMachine(d)) })
		case "matchMin":
			l.MatchMin = d.Int()
		case "serverKey":
			l.ServerKey = decodeJWK(d)
		case "nodes":
			if d.Null() {
				l.Cluster = nil
				return
			}
			l.Cluster = []Node{}
			d.Array(func() { l.Cluster = append(l.Cluster, decodeNode(d)) })
		case "productLicenses":
			if d.Null() {
				l.Products = nil
				return
			}
			l.Products = []Product{}
			d.Array(func() { l.Products = append(l.Products, decodeProduct(d)) })
		case "keyFile":
			if d.Null() {
				l.KeyFile = nil
				return
			}
			l.KeyFile = decodeKeyFilePolicy(d)
		case "binding":
			l.Bind = d.String()
		case "token":
			if d.Null() {
				l.Token = nil
				return
			}
			l.Token = decodeTokenBinding(d)
		default:
			d.Unknown(name)
		}
	})
	return l, d.Finish()
}

func decodeMachine(d *jsonread.Decoder) fingerprint.Machine {
	var m fingerprint.Machine
	d.Object(func(name string) {
		switch name {
		case "code":
			m.Code = d.String()
		case "components":
			m.Components = d.StringMap()
		default:
			d.Unknown(name)
		}
	})
	return m
}

func decodeNode(d *jsonread.Decoder) Node {
	var n Node
	d.Object(func(name string) {
		switch name {
		case "name":
			n.Name = d.String()
		case "code":
			n.Code = d.String()
		case "components":
			n.Components = d.StringMap()
		case "serverKey":
			n.ServerKey = decodeJWK(d)
		default:
			d.Unknown(name)
		}
	})
	return n
}

func decodeJWK(d *jsonread.Decoder) keys.JWK {
	var k keys.JWK
	d.Object(func(name string) {
		switch name {
		case "kty":
			k.Kty = d.String()
		case "crv":
			k.Crv = d.String()
		case "x":
			k.X = d.String()
		case "kid":
			k.Kid = d.String()
		default:
			d.Unknown(name)
		}
	})
	return k
}

func decodeProduct(d *jsonread.Decoder) Product {
	var p Product
	d.Object(func(name string) {
		switch name {
		case "subject":
			p.Subject = d.String()
		case "functions":
			p.Functions = d.Strings()
		case "instanceSize":
			p.InstanceSize = d.Int()
		case "qps":
			p.QPS = d.Int()
		case "notBefore":
			p.NotBefore = d.Time()
		case "notAfter":
			p.NotAfter = d.Time()
		default:
			d.Unknown(name)
		}
	})
	return p
}

func decodeKeyFilePolicy(d *jsonread.Decoder) *KeyFilePolicy {
	p := &KeyFilePolicy{}
	d.Object(func(name string) {
		switch name {
		case "hosts":
			p.Hosts = d.Strings()
		case "validityHours":
			p.ValidityHours = d.Int()
		default:
			d.Unknown(name)
		}
	})
	return p
}
