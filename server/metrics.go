package server

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/store"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	handler http.Handler
	results *prometheus.CounterVec
	tlsFail *prometheus.CounterVec
	reloads *prometheus.CounterVec

	cached sync.Map // resultKey → prometheus.Counter
}

type resultKey struct {
	product string
	code    codes.Code
}

func newMetrics(s *Server) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "licensor_auth_results_total", Help: "Answers to instances, by product and code.",
		}, []string{"product", "code", "name"}),
		tlsFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "licensor_tls_handshake_failures_total", Help: "Failed TLS handshakes, by reason.",
		}, []string{"reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "licensor_license_reloads_total", Help: "License reloads, by code (0: reloaded).",
		}, []string{"code"}),
	}
	reg.MustRegister(m.results, m.tlsFail, m.reloads, &poolCollector{s: s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) result(product string, c codes.Code) {
	k := resultKey{product, c}
	if ctr, ok := m.cached.Load(k); ok {
		ctr.(prometheus.Counter).Inc()
		return
	}
	// Products come from the license and codes from the table, so the
	// label sets are few; a product name a client made up is counted
	// under "" rather than given a series of its own.
	ctr := m.results.WithLabelValues(product, fmt.Sprint(int(c)), c.Name())
	m.cached.Store(k, ctr)
	ctr.Inc()
}

var (
	poolSize    = prometheus.NewDesc("licensor_pool_size", "Instances the license allows, by product.", []string{"product"}, nil)
	poolUsed    = prometheus.NewDesc("licensor_pool_used", "Instances holding a lease, by product.", []string{"product"}, nil)
	qpsLicensed = prometheus.NewDesc("licensor_qps_licensed", "Licensed calls per second, by product (0: no QPS control).", []string{"product"}, nil)
	qpsUsed     = prometheus.NewDesc("licensor_qps_used", "Calls per second reported by instances, by product.", []string{"product"}, nil)
	daysLeft    = prometheus.NewDesc("licensor_license_days_left", "Days until the product's license ends (negative: expired).", []string{"product"}, nil)
	certDays    = prometheus.NewDesc("licensor_server_certificate_days_left", "Days until the server's TLS certificate expires.", nil, nil)
	nodeInfo    = prometheus.NewDesc("licensor_node_info", "1, labelled with this server's name among the nodes sharing its store, its license and version (only when several servers share a store).", []string{"node", "license", "version"}, nil)
	tokenUp     = prometheus.NewDesc("licensor_token_present", "1 while the hardware token the license binds passed its last presence check, 0 after a failed one (only when the license binds a token).", nil, nil)
	tokenGrant  = prometheus.NewDesc("licensor_token_refusing", "1 while grants are refused because the hardware token has been absent for longer than token_grace.", nil, nil)
	upContact   = prometheus.NewDesc("licensor_upstream_last_contact_timestamp_seconds", "When the vendor's service last granted the license (upstream mode).", nil, nil)
)

// poolCollector reads the pool and license at scrape time.
type poolCollector struct{ s *Server }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolSize, poolUsed, qpsLicensed, qpsUsed, daysLeft, certDays, upContact, nodeInfo, tokenUp, tokenGrant} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	now := s.clock.Now()
	l := s.lic.Load()
	var held map[string]int
	if s.store != nil {
		held, _ = s.store.Held(context.Background(), now)
	}
	if l != nil {
		for _, p := range l.license.Products {
			ch <- prometheus.MustNewConstMetric(poolSize, prometheus.GaugeValue, float64(p.InstanceSize), p.Subject)
			ch <- prometheus.MustNewConstMetric(poolUsed, prometheus.GaugeValue, float64(held[p.Subject]), p.Subject)
			ch <- prometheus.MustNewConstMetric(qpsLicensed, prometheus.GaugeValue, float64(p.QPS), p.Subject)
			ch <- prometheus.MustNewConstMetric(qpsUsed, prometheus.GaugeValue, s.qpsUsed(p.Subject), p.Subject)
			ch <- prometheus.MustNewConstMetric(daysLeft, prometheus.GaugeValue, p.NotAfter.Sub(now).Hours()/24, p.Subject)
		}
	}
	if cs, ok := s.store.(store.Cluster); ok && l != nil {
		ch <- prometheus.MustNewConstMetric(nodeInfo, prometheus.GaugeValue, 1, cs.Node(), l.license.ID, version())
	}
	if st, ok := s.tokenStatus(); ok {
		present := 0.0
		if st.Present {
			present = 1
		}
		ch <- prometheus.MustNewConstMetric(tokenUp, prometheus.GaugeValue, present)
		refusing := 0.0
		if st.Refusing {
			refusing = 1
		}
		ch <- prometheus.MustNewConstMetric(tokenGrant, prometheus.GaugeValue, refusing)
	}
	if n := s.upstreamAt.Load(); n != 0 {
		ch <- prometheus.MustNewConstMetric(upContact, prometheus.GaugeValue, float64(n)/1e9)
	}
	if crt := s.tls.Certificate(); crt != nil && crt.Leaf != nil {
		ch <- prometheus.MustNewConstMetric(certDays, prometheus.GaugeValue, crt.Leaf.NotAfter.Sub(now).Hours()/24)
	}
}

// tlsErrorLog is the http.Server's error log: it counts TLS handshake
// failures by reason and passes every line to the structured log.
func (m *metrics) tlsErrorLog(l *slog.Logger) *log.Logger {
	return log.New(&errorLogWriter{m: m, log: l}, "", 0)
}

type errorLogWriter struct {
	m   *metrics
	log *slog.Logger
}

var handshakeRE = regexp.MustCompile(`TLS handshake error from ([^ ]+): (.*)`)

func (w *errorLogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	if m := handshakeRE.FindStringSubmatch(line); m != nil {
		reason := handshakeReason(m[2])
		w.m.tlsFail.WithLabelValues(reason).Inc()
		w.log.Warn("tls handshake", "reason", reason, "remote", m[1], "err", m[2])
		return len(p), nil
	}
	w.log.Warn("http", "err", line)
	return len(p), nil
}

// handshakeReason names a handshake failure in a few stable words.
func handshakeReason(msg string) string {
	switch {
	case strings.Contains(msg, "didn't provide a certificate"):
		return "no_client_certificate"
	case strings.Contains(msg, "certificate signed by unknown authority"):
		return "client_certificate_unknown_ca"
	case strings.Contains(msg, "expired or is not yet valid"):
		return "client_certificate_expired"
	case strings.Contains(msg, "incompatible key usage"):
		return "client_certificate_wrong_usage"
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "not_tls"
	case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"):
		return "server_certificate_rejected"
	case strings.Contains(msg, "protocol version"), strings.Contains(msg, "no cipher suite"):
		return "protocol_version"
	case strings.Contains(msg, "EOF"), strings.Contains(msg, "connection reset"), strings.Contains(msg, "timeout"):
		return "connection_closed"
	}
	return "other"
}
