package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// CSVHeader is the first row of WriteCSV: one row per product and
// period, then one per product with period "total".
var CSVHeader = []string{"product", "period", "start", "end", "limit", "peak_instance", "peak_keyfile", "peak_total",
	"avg_instance", "avg_keyfile", "at_limit_seconds", "denials", "denied_501", "instances", "hosts", "qps_used", "qps_avg", "qps_licensed"}

// WriteCSV writes r as CSV. The denials column lists code:count pairs.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, p := range r.Products {
		for _, pe := range p.Periods {
			cw.Write(csvRow(p, r.By, pe))
		}
		cw.Write(csvRow(p, "total", p.Total))
	}
	cw.Flush()
	return cw.Error()
}

func csvRow(p Product, label string, pe Period) []string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }
	return []string{p.Name, label, pe.Start.Format(time.RFC3339), pe.End.Format(time.RFC3339), strconv.Itoa(p.Limit),
		strconv.Itoa(pe.PeakInstance), strconv.Itoa(pe.PeakKeyFile), strconv.Itoa(pe.PeakTotal), f(pe.AvgInstance), f(pe.AvgKeyFile),
		strconv.FormatFloat(pe.AtLimit.Seconds(), 'f', 0, 64), denials(pe.Denials), strconv.Itoa(pe.Denials[501]),
		strconv.Itoa(pe.Instances), strconv.Itoa(pe.Hosts), f(pe.QPSUsed), f(pe.QPSAvg), f(p.QPSLicensed)}
}

func denials(m map[int]int) string {
	cs := make([]int, 0, len(m))
	for c := range m {
		cs = append(cs, c)
	}
	sort.Ints(cs)
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%d:%d", c, m[c])
	}
	return strings.Join(parts, " ")
}

// WriteTable writes r for people: per product, one line per period.
func WriteTable(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "Usage from %s to %s, by %s", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), r.By)
	if r.LicenseID != "" {
		fmt.Fprintf(w, ", license %s", r.LicenseID)
	}
	fmt.Fprintln(w)
	if len(r.Products) == 0 {
		fmt.Fprintln(w, "\nNo product was licensed or used in the period.")
	}
	layout := "2006-01-02"
	switch r.By {
	case ByHour:
		layout = "2006-01-02 15:04"
	case ByMonth:
		layout = "2006-01"
	}
	for _, p := range r.Products {
		fmt.Fprintf(w, "\n%s: limit %d seats", p.Name, p.Limit)
		if p.QPSLicensed > 0 {
			fmt.Fprintf(w, ", %g calls/s", p.QPSLicensed)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		qps := p.QPSLicensed > 0
		head := "PERIOD\tPEAK INST\tPEAK KEYFILE\tAVG INST\tAVG KEYFILE\tAT LIMIT\tDENIED (501)\tINSTANCES\tHOSTS\t"
		if qps {
			head += "QPS PEAK\tQPS AVG\t"
		}
		fmt.Fprintln(tw, head)
		line := func(label string, pe Period) {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%s\t%d (%d)\t%d\t%d\t", label, pe.PeakInstance, pe.PeakKeyFile, pe.AvgInstance, pe.AvgKeyFile,
				pe.AtLimit.Round(time.Second), pe.Denied(), pe.Denials[501], pe.Instances, pe.Hosts)
			if qps {
				fmt.Fprintf(tw, "%.1f\t%.1f\t", pe.QPSUsed, pe.QPSAvg)
			}
			fmt.Fprintln(tw)
		}
		for _, pe := range p.Periods {
			line(pe.Start.Format(layout), pe)
		}
		line("total", p.Total)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// ParseTime reads a report's date: YYYY-MM-DD (a whole day, UTC: its
// start, or its end when end is set, so that --to 2026-01-31 includes
// that day) or RFC 3339. An empty string is the zero time.
func ParseTime(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD) or an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// CheckBy checks a period length ("" is the default, day).
func CheckBy(by string) error {
	switch by {
	case "", ByHour, ByDay, ByMonth:
		return nil
	}
	return fmt.Errorf("by %q: want hour, day or month", by)
}
