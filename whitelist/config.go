package whitelist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
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
type Duration time.Duration

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "2160h".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration such as "2160h"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf(`%q is not a duration such as "2160h"`, s)
	}
	*d = Duration(v)
	return nil
}

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
const MaxConfigSize = 1 << 20

const knownKeys = "listen, tls, vendor_key, data_dir, grace"

// Parse reads a configuration over the defaults and validates it; keys it
// does not know are an error naming them. dir is the directory relative
// paths are resolved against ("" leaves them as they are). Failures are
// codes.ConfigInvalid.
func Parse(r io.Reader, dir string) (Config, error) {
	c := Default()
	data, err := io.ReadAll(io.LimitReader(r, MaxConfigSize+1))
	if err != nil {
		return c, codes.Errorf(codes.ConfigInvalid, "cannot read the configuration: %w", err)
	}
	if len(data) > MaxConfigSize {
		return c, codes.Errorf(codes.ConfigInvalid, "the configuration is larger than %d bytes", MaxConfigSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Default(), codes.Errorf(codes.ConfigInvalid, "%s", describe(data, err))
	}
	if dec.More() {
		return Default(), codes.Errorf(codes.ConfigInvalid, "data after the configuration's JSON object")
	}
	if dir != "" {
		for _, p := range []*string{&c.TLS.Cert, &c.TLS.Key, &c.VendorKey, &c.DataDir} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	return c, c.Validate()
}

func describe(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line := 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
		return fmt.Sprintf("not valid JSON at line %d: %v", line, syn)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: want a %s, not a JSON %s", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Sprintf("unknown key %s (known keys: %s; tls has cert and key)", strings.TrimPrefix(err.Error(), "json: unknown field "), knownKeys)
	case errors.Is(err, io.EOF):
		return "the configuration is empty; write {} for all defaults"
	}
	// A value's own decoder failed (a bad duration): find the key by
	// decoding the keys one at a time.
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) == nil {
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			one, _ := json.Marshal(map[string]json.RawMessage{k: fields[k]})
			c := Default()
			if json.Unmarshal(one, &c) != nil {
				return fmt.Sprintf("field %q: %v", k, err)
			}
		}
	}
	return err.Error()
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
