package server

import (
	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/jsonread"
	"github.com/licensor/licensor/internal/jsonwrite"
)

// The bodies of every authorize and heartbeat, read and written by hand:
// encoding/json's reflection costs more than the rest of such a request
// bar the signature. FuzzDecodeInstanceRequest and FuzzAppendVerdictBody
// hold them to encoding/json's meaning.

// decodeInstanceRequest reads an InstanceRequest strictly: no unknown,
// repeated or mistyped fields, nothing after it (codes.RequestMalformed).
func decodeInstanceRequest(data []byte) (api.InstanceRequest, error) {
	req, err := readInstanceRequest(data)
	if err != nil {
		return req, codes.Errorf(codes.RequestMalformed, "the body is not the JSON object expected: %v", err)
	}
	return req, nil
}

func readInstanceRequest(data []byte) (api.InstanceRequest, error) {
	var r api.InstanceRequest
	d := jsonread.NewDecoder(string(data))
	d.Object(func(name string) {
		switch name {
		case "product":
			r.Product = d.String()
		case "instance_id":
			r.InstanceID = d.String()
		case "mode":
			r.Mode = d.String()
		case "nonce":
			r.Nonce = d.String()
		case "have_license":
			r.HaveLicense = d.String()
		case "calls":
			r.Calls = d.Int64()
		case "verdict":
			v := d.Bool()
			r.Verdict = &v
		default:
			d.Unknown(name)
		}
	})
	return r, d.Finish()
}

// appendVerdictBody appends b's JSON, as encoding/json writes it.
func appendVerdictBody(dst []byte, b *api.VerdictBody) []byte {
	dst = append(dst, '{')
	dst = jsonwrite.Key(dst, "code")
	dst = jsonwrite.Int(dst, int64(b.Code))
	dst = jsonwrite.Key(dst, "name")
	dst = jsonwrite.String(dst, b.Name)
	if b.Verdict != "" {
		dst = jsonwrite.Key(dst, "verdict")
		dst = jsonwrite.String(dst, b.Verdict)
	}
	if b.License != "" {
		dst = jsonwrite.Key(dst, "license")
		dst = jsonwrite.String(dst, b.License)
	}
	l := &b.Lease
	dst = jsonwrite.Key(dst, "lease")
	dst = append(dst, '{')
	dst = jsonwrite.Key(dst, "product")
	dst = jsonwrite.String(dst, l.Product)
	dst = jsonwrite.Key(dst, "instance_id")
	dst = jsonwrite.String(dst, l.InstanceID)
	dst = jsonwrite.Key(dst, "since")
	dst = jsonwrite.Time(dst, l.Since)
	dst = jsonwrite.Key(dst, "expires")
	dst = jsonwrite.Time(dst, l.Expires)
	dst = jsonwrite.Key(dst, "resumed")
	dst = jsonwrite.Bool(dst, l.Resumed)
	dst = jsonwrite.Key(dst, "heartbeat_in_seconds")
	dst = jsonwrite.Float(dst, l.HeartbeatIn)
	dst = jsonwrite.Key(dst, "held")
	dst = jsonwrite.Int(dst, int64(l.Held))
	dst = jsonwrite.Key(dst, "limit")
	dst = jsonwrite.Int(dst, int64(l.Limit))
	dst = append(dst, '}')
	if q := b.QPS; q != nil {
		dst = jsonwrite.Key(dst, "qps")
		dst = append(dst, '{')
		dst = jsonwrite.Key(dst, "licensed")
		dst = jsonwrite.Int(dst, int64(q.Licensed))
		dst = jsonwrite.Key(dst, "share")
		dst = jsonwrite.Float(dst, q.Share)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}
