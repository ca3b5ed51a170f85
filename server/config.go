package server

import (
	"io"
	"net"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/jsonconfig"
)

// Config is the site server's configuration, read from a JSON file.
// Relative paths are relative to the file's directory. Every key, with its
// default:
//
//	listen            ":8443"      address to serve HTTPS on
//	license           "site.lic"   the vendor-signed license file
//	vendor_public_key "vendor.pub" the vendor's public key
//	data_dir          "data"       server.key (the site server key) and licensor.db
//	store             ""           where the pool is: "" for licensor.db in data_dir,
//	                               "sqlite:PATH", or "postgres://USER@HOST:PORT/DB?sslmode=…"
//	                               for several servers sharing one pool (no password in it)
//	store_password_file ""         the PostgreSQL password, one line (or PGPASSFILE, PGPASSWORD)
//	cluster_interval  "5s"         how often a node checks in with the others sharing its store:
//	                               its clock, the license in force, the cluster's QPS use
//	node              ""           this server's name among several ("": the host name and
//	                               the first characters of its server key's id)
//	tls.ca            "pki/ca.crt"      CA that client certificates must chain to
//	tls.cert          "pki/server.crt"  the server's certificate
//	tls.key           "pki/server.key"  its private key
//	lease_ttl         "90s"  a lease not renewed within this is freed
//	clock_tolerance   "5m"   how far the clock may go back before service stops
//	reap_interval     "1s"   how often lapsed leases are freed
//	max_body_bytes    16384  largest request body accepted
//	shutdown_timeout  "10s"  how long in-flight requests may take to finish
//	log_format        "text" "text" or "json"
//	log_level         "info" "debug", "info", "warn" or "error"
//	log_file          ""     append the log to this file ("": standard error,
//	                         which systemd sends to the journal); reopened on
//	                         SIGHUP, so logrotate can move it away
//	keyfile_validity  "168h" how long a key file issued to a host is valid
//	                         (a license's key-file policy may set its own)
//	upstream          []     the vendor's whitelist services: the license comes
//	                         from the first that answers (and is kept in license)
//	upstream_ca       ""     CA file for the vendor services' certificates ("": the system's)
//	upstream_interval "24h"  how often the grant is fetched again
//	upstream_timeout  "10s"  how long a vendor service may take to answer before
//	                         the next is asked (100ms..5m)
//	token_module      ""     the PKCS#11 module (.so) of the hardware token a license
//	                         may bind; needed only when it binds one
//	token_pin_file    ""     the token's user PIN, one line ("": LICENSOR_TOKEN_PIN);
//	                         read at each check, a PIN the token refused not tried again
//	token_check_interval "30s" how often the server proves the token is present (5s..1h)
//	token_grace       "2m"   how long the server keeps granting after the token stops
//	                         answering (0..24h)
//	token_timeout     "5s"   how long a PKCS#11 call may take before the check fails (100ms..1m)
type Config struct {
	Listen           string    `json:"listen"`
	License          string    `json:"license"`
	VendorPublicKey  string    `json:"vendor_public_key"`
	DataDir          string    `json:"data_dir"`
	Store            string    `json:"store"`
	StorePassword    string    `json:"store_password_file"`
	Node             string    `json:"node"`
	ClusterInterval  Duration  `json:"cluster_interval"`
	TLS              TLSConfig `json:"tls"`
	LeaseTTL         Duration  `json:"lease_ttl"`
	ClockTolerance   Duration  `json:"clock_tolerance"`
	ReapInterval     Duration  `json:"reap_interval"`
	MaxBodyBytes     int64     `json:"max_body_bytes"`
	ShutdownTimeout  Duration  `json:"shutdown_timeout"`
	LogFormat        string    `json:"log_format"`
	LogLevel         string    `json:"log_level"`
	LogFile          string    `json:"log_file"`
	KeyFileValidity  Duration  `json:"keyfile_validity"`
	Upstream         []string  `json:"upstream"`
	UpstreamCA       string    `json:"upstream_ca"`
	UpstreamInterval Duration  `json:"upstream_interval"`
	UpstreamTimeout  Duration  `json:"upstream_timeout"`

	TokenModule        string   `json:"token_module"`
	TokenPINFile       string   `json:"token_pin_file"`
	TokenCheckInterval Duration `json:"token_check_interval"`
	TokenGrace         Duration `json:"token_grace"`
	TokenTimeout       Duration `json:"token_timeout"`
}

// TLSConfig names the server's certificate files.
type TLSConfig struct {
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// Duration is a time.Duration written as "90s" in JSON.
type Duration = jsonconfig.Duration

// Default returns the configuration with every default set.
func Default() Config {
	return Config{
		Listen: ":8443", License: "site.lic", VendorPublicKey: "vendor.pub", DataDir: "data",
		TLS:      TLSConfig{CA: "pki/ca.crt", Cert: "pki/server.crt", Key: "pki/server.key"},
		LeaseTTL: Duration(90 * time.Second), ClockTolerance: Duration(5 * time.Minute),
		ReapInterval: Duration(time.Second), MaxBodyBytes: 16 << 10, ShutdownTimeout: Duration(10 * time.Second),
		LogFormat: "text", LogLevel: "info", KeyFileValidity: Duration(7 * 24 * time.Hour),
		ClusterInterval:  Duration(5 * time.Second),
		UpstreamInterval: Duration(24 * time.Hour), UpstreamTimeout: Duration(10 * time.Second),
		TokenCheckInterval: Duration(30 * time.Second), TokenGrace: Duration(2 * time.Minute), TokenTimeout: Duration(5 * time.Second),
	}
}

// MaxConfigSize bounds a configuration file.
const MaxConfigSize = jsonconfig.MaxSize

const knownKeys = "listen, license, vendor_public_key, data_dir, store, store_password_file, node, cluster_interval, tls, lease_ttl, clock_tolerance, reap_interval, max_body_bytes, shutdown_timeout, log_format, log_level, log_file, keyfile_validity, upstream, upstream_ca, upstream_interval, upstream_timeout, token_module, token_pin_file, token_check_interval, token_grace, token_timeout"

// Parse reads a configuration over the defaults; keys it does not know are
// an error naming them. dir is the directory relative paths are resolved
// against ("" leaves them as they are).
func Parse(r io.Reader, dir string) (Config, error) {
	c := Default()
	if err := jsonconfig.Decode(r, &c, func() any { d := Default(); return &d }, knownKeys); err != nil {
		return c, err
	}
	jsonconfig.Resolve(dir, &c.License, &c.VendorPublicKey, &c.DataDir, &c.TLS.CA, &c.TLS.Cert, &c.TLS.Key, &c.UpstreamCA, &c.LogFile, &c.StorePassword, &c.TokenPINFile)
	if p, ok := strings.CutPrefix(c.Store, "sqlite:"); ok && p != "" {
		jsonconfig.Resolve(dir, &p)
		c.Store = "sqlite:" + p
	}
	return c, c.Validate()
}

// Validate checks every field; the error names the field and its value.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return codes.Errorf(codes.ConfigInvalid, "%s: "+format, append([]any{field}, args...)...)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q is not host:port (\":8443\" listens on every address)", c.Listen)
	}
	for field, v := range map[string]string{"license": c.License, "vendor_public_key": c.VendorPublicKey, "data_dir": c.DataDir,
		"tls.ca": c.TLS.CA, "tls.cert": c.TLS.Cert, "tls.key": c.TLS.Key} {
		if v == "" {
			return bad(field, "is empty")
		}
	}
	switch {
	case c.LeaseTTL < Duration(5*time.Second) || c.LeaseTTL > Duration(24*time.Hour):
		return bad("lease_ttl", "%s is out of range 5s..24h", time.Duration(c.LeaseTTL))
	case c.ClockTolerance < 0 || c.ClockTolerance > Duration(24*time.Hour):
		return bad("clock_tolerance", "%s is out of range 0..24h", time.Duration(c.ClockTolerance))
	case c.ReapInterval < Duration(10*time.Millisecond) || c.ReapInterval > c.LeaseTTL:
		return bad("reap_interval", "%s is out of range 10ms..lease_ttl", time.Duration(c.ReapInterval))
	case c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<20:
		return bad("max_body_bytes", "%d is out of range 1024..1048576", c.MaxBodyBytes)
	case c.ShutdownTimeout < 0 || c.ShutdownTimeout > Duration(10*time.Minute):
		return bad("shutdown_timeout", "%s is out of range 0..10m", time.Duration(c.ShutdownTimeout))
	case c.ClusterInterval < Duration(50*time.Millisecond) || c.ClusterInterval > Duration(time.Minute):
		return bad("cluster_interval", "%s is out of range 50ms..1m", time.Duration(c.ClusterInterval))
	case c.KeyFileValidity < Duration(time.Hour) || c.KeyFileValidity > Duration(90*24*time.Hour):
		return bad("keyfile_validity", "%s is out of range 1h..2160h (90 days)", time.Duration(c.KeyFileValidity))
	case c.UpstreamInterval < Duration(time.Second) || c.UpstreamInterval > Duration(30*24*time.Hour):
		return bad("upstream_interval", "%s is out of range 1s..720h", time.Duration(c.UpstreamInterval))
	case c.UpstreamTimeout < Duration(100*time.Millisecond) || c.UpstreamTimeout > Duration(5*time.Minute):
		return bad("upstream_timeout", "%s is out of range 100ms..5m", time.Duration(c.UpstreamTimeout))
	case c.TokenCheckInterval < Duration(5*time.Second) || c.TokenCheckInterval > Duration(time.Hour):
		return bad("token_check_interval", "%s is out of range 5s..1h", time.Duration(c.TokenCheckInterval))
	case c.TokenGrace < 0 || c.TokenGrace > Duration(24*time.Hour):
		return bad("token_grace", "%s is out of range 0..24h", time.Duration(c.TokenGrace))
	case c.TokenTimeout < Duration(100*time.Millisecond) || c.TokenTimeout > Duration(time.Minute):
		return bad("token_timeout", "%s is out of range 100ms..1m", time.Duration(c.TokenTimeout))
	case len(c.Upstream) > 16:
		return bad("upstream", "%d services, at most 16", len(c.Upstream))
	}
	for _, u := range c.Upstream {
		if err := validUpstream(u); err != nil {
			return bad("upstream", "%v", err)
		}
	}
	switch {
	case c.LogFormat != "text" && c.LogFormat != "json":
		return bad("log_format", "%q: want \"text\" or \"json\"", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}
