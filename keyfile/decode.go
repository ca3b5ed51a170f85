package keyfile

import "github.com/licensor/licensor/internal/jsonread"

// decodeClaims decodes the signed payload strictly (no unknown, repeated or
// mistyped fields, nothing after it). It is the bulk of a cold check after
// the two signatures, so it reads the fields by hand rather than through
// reflection; FuzzDecodeClaims holds it to encoding/json's meaning.
func decodeClaims(data string) (Claims, error) {
	var c Claims
	d := jsonread.NewDecoder(data)
	d.Object(func(name string) {
		switch name {
		case "v":
			c.Version = d.Int()
		case "iss":
			c.Issuer = d.String()
		case "mc":
			c.Machine = d.String()
		case "components":
			c.Components = d.StringMap()
		case "match_min":
			c.MatchMin = d.Int()
		case "iat":
			c.IssuedAt = d.Int64()
		case "nbf":
			c.NotBefore = d.Int64()
		case "exp":
			c.Expires = d.Int64()
		case "jti":
			c.ID = d.String()
		case "lic":
			c.License = d.String()
		case "products":
			if d.Null() {
				c.Products = nil
				return
			}
			c.Products = []Product{}
			d.Array(func() { c.Products = append(c.Products, decodeProduct(d)) })
		default:
			d.Unknown(name)
		}
	})
	return c, d.Finish()
}

func decodeProduct(d *jsonread.Decoder) Product {
	var p Product
	d.Object(func(name string) {
		switch name {
		case "subject":
			p.Subject = d.String()
		case "functions":
			p.Functions = d.Strings()
		case "not_after":
			p.NotAfter = d.Int64()
		default:
			d.Unknown(name)
		}
	})
	return p
}
