package whitelist

import (
	"io"
	"net"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/jsonconfig"
)

// Config is the whitelist service's configuration, read from a JSON file.
// Relative paths are relative to the file's directory. Every key, with its
// default:
//
//	listen     ":9443"           address to serve HTTPS on
//	tls.cert   "pki/server.crt"  the service's certificate (no client certificates are asked for)
//	tls.key    "pki/server.key"  its private key
//	vendor_key "vendor.key"      the vendor's private key, which signs the grants
//	data_dir   "data"            whitelist.db, the approvals
//	grace      "2160h"           how long a grant runs past the contract's end (90 days)
type Config struct {
	Listen    string    `json:"listen"`
	TLS       TLSConfig `json:"tls"`
	VendorKey string    `json:"vendor_key"`
	DataDir   string    `json:"data_dir"`
	Grace     Duration  `json:"grace"`
}

// TLSConfig names the service's certificate files.
type TLSConfig struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// Duration is a time.Duration written as "2160h" in JSON.
type Duration = jsonconfig.Duration

// DefaultGrace is how long a grant runs past the contract's end.
const DefaultGrace = 90 * 24 * time.Hour

// MaxGrace bounds the grace period.
const MaxGrace = 366 * 24 * time.Hour

// Default returns the configuration with every default set.
func Default() Config {
	return Config{
		Listen: ":9443", TLS: TLSConfig{Cert: "pki/server.crt", Key: "pki/server.key"},
		VendorKey: "vendor.key", DataDir: "data", Grace: Duration(DefaultGrace),
	}
}

// MaxConfigSize bounds a configuration file.
const MaxConfigSize = jsonconfig.MaxSize

const knownKeys = "listen, tls (cert, key), vendor_key, data_dir, grace"

// Parse reads a configuration over the defaults and validates it; keys it
// does not know are an error naming them. dir is the directory relative
// paths are resolved against ("" leaves them as they are). Failures are
// codes.ConfigInvalid.
func Parse(r io.Reader, dir string) (Config, error) {
	c := Default()
	if err := jsonconfig.Decode(r, &c, func() any { d := Default(); return &d }, knownKeys); err != nil {
		return Default(), err
	}
	jsonconfig.Resolve(dir, &c.TLS.Cert, &c.TLS.Key, &c.VendorKey, &c.DataDir)
	return c, c.Validate()
}

// Validate checks every field; the error names the field and its value.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return codes.Errorf(codes.ConfigInvalid, "%s: "+format, append([]any{field}, args...)...)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q is not host:port (\":9443\" listens on every address)", c.Listen)
	}
	for _, f := range []struct{ name, v string }{
		{"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key}, {"vendor_key", c.VendorKey}, {"data_dir", c.DataDir},
	} {
		if f.v == "" {
			return bad(f.name, "is empty")
		}
	}
	if c.Grace < 0 || c.Grace > Duration(MaxGrace) {
		return bad("grace", "%s is out of range 0..%s (366 days)", time.Duration(c.Grace), MaxGrace)
	}
	return nil
}
