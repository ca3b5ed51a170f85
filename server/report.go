package server

import (
	"context"
	"net/http"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/report"
	"github.com/licensor/licensor/store"
)

// Usage reports: the admin API serves them (GET api.PathReport), and the
// reaper samples each QPS-controlled product's rate once a minute into
// the store and summarises the audit log a little at a time (see package
// report), so that a report finds little left to do.

// reportBudget bounds the audit events one reaper pass summarises.
const reportBudget = 20000

func (s *Server) routeReport(mux *http.ServeMux) {
	mux.Handle("GET "+api.PathReport, s.withRole(s.handleReport, pki.RoleAdmin))
}

// ReportQuery reads a report request's query: from, to (YYYY-MM-DD or
// RFC 3339), product, by.
func ReportQuery(r *http.Request) (report.Query, error) {
	v := r.URL.Query()
	var q report.Query
	var err error
	if q.From, err = report.ParseTime(v.Get("from"), false); err != nil {
		return q, codes.Errorf(codes.RequestMalformed, "from: %v", err)
	}
	if q.To, err = report.ParseTime(v.Get("to"), true); err != nil {
		return q, codes.Errorf(codes.RequestMalformed, "to: %v", err)
	}
	q.Product, q.By = v.Get("product"), v.Get("by")
	if err := report.CheckBy(q.By); err != nil {
		return q, codes.Errorf(codes.RequestMalformed, "%v", err)
	}
	return q, nil
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request, p peer) {
	src, ok := s.store.(report.Source)
	if !ok {
		s.fail(w, r, p, codes.Errorf(codes.StoreUnavailable, "this store keeps no usage summaries"))
		return
	}
	q, err := ReportQuery(r)
	format := r.URL.Query().Get("format")
	if err == nil && format != "" && format != "json" && format != "csv" {
		err = codes.Errorf(codes.RequestMalformed, "format %q: want json or csv", format)
	}
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	// Leases that lapsed since the reaper's last pass are ended in the
	// log first, so that the report does not count them as held.
	s.reap(r.Context())
	l := s.lic.Load()
	q.License, q.Now = l.license, s.clock.Now()
	if r.URL.Query().Get("signed") == "1" {
		file, err := report.BuildSigned(r.Context(), src, q, report.SignOptions{Key: s.serverKey, License: l.compact})
		if err != nil {
			s.fail(w, r, p, reportError(err))
			return
		}
		s.log.Info("report", "code", 0, "signed", true, "holder", p.name)
		writeBody(w, http.StatusOK, file)
		return
	}
	rep, err := report.Build(r.Context(), src, q)
	if err != nil {
		s.fail(w, r, p, reportError(err))
		return
	}
	if cs, ok := s.store.(store.Cluster); ok {
		rep.Node = cs.Node()
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		report.WriteCSV(w, rep)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// reportError gives a failure without a code the store's.
func reportError(err error) error {
	if codes.Of(err) != codes.Unknown {
		return err
	}
	return codes.Errorf(codes.StoreUnavailable, "cannot read the audit log: %w", err)
}

// reportTick samples the products' rates once a minute and summarises
// the audit log a little. Called by the reaper.
func (s *Server) reportTick(ctx context.Context, now time.Time) {
	src, ok := s.store.(report.Source)
	if !ok || !s.usage.sampleDue(now) {
		return
	}
	var samples []store.UsageSample
	node := ""
	if cs, ok := s.store.(store.Cluster); ok {
		node = cs.Node()
	}
	for _, p := range s.lic.Load().license.Products {
		if p.QPS > 0 {
			samples = append(samples, store.UsageSample{Node: node, Product: p.Subject, Time: now, Rate: s.usage.rate(p.Subject)})
		}
	}
	if err := src.RecordUsage(ctx, samples...); err != nil && ctx.Err() == nil {
		s.log.Error("usage sample", "code", int(codes.StoreUnavailable), "name", codes.StoreUnavailable.Name(), "err", err)
	}
	if _, err := report.Index(ctx, src, now, reportBudget); err != nil && ctx.Err() == nil {
		s.log.Error("usage summary", "code", int(codes.StoreUnavailable), "name", codes.StoreUnavailable.Name(), "err", err)
	}
}
