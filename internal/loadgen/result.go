package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Quantiles summarises a histogram, in milliseconds.
type Quantiles struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func quantiles(h *Hist) Quantiles {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Quantiles{
		Count: h.Count(), Mean: ms(h.Mean()),
		P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max()),
	}
}

// Result is what one Run measured. Counts are over the measured window
// (requests attributed by their scheduled time) unless named Total.
type Result struct {
	URL      string  `json:"url"`
	Clients  int     `json:"clients"`
	PeriodMs float64 `json:"period_ms"`
	WindowS  float64 `json:"window_s"` // measured seconds (less than Duration when interrupted)
	RampS    float64 `json:"ramp_s"`   // time to open all connections

	ConnectFailures uint64 `json:"connect_failures"` // first connections that could not be opened

	AskedRate    float64 `json:"asked_rate"`    // clients / period, per second
	AchievedRate float64 `json:"achieved_rate"` // (200 + 304 responses) / window
	Sent         uint64  `json:"sent"`          // requests written in the window
	OK200        uint64  `json:"ok_200"`
	NotModified  uint64  `json:"not_modified_304"`
	Missed       uint64  `json:"missed"` // polls skipped because a client was a period late
	Reconnects   uint64  `json:"reconnects"`
	Bytes        uint64  `json:"bytes"` // response bytes (headers + bodies)

	Latency Quantiles `json:"latency"`
	// Lag is how late requests left compared with their schedule: the load
	// generator's own delay (CPU starvation, a slow previous response). When
	// its p99 nears the period, the generator, not the server, limits the run.
	Lag Quantiles `json:"lag"`
	// Staleness is the age of the served snapshot at receipt, from
	// X-Jawas-Period and X-Jawas-Next (see client in run.go); nil when the
	// server sent no such headers (e.g. nginx): reported as "n/a".
	Staleness *Quantiles `json:"staleness,omitempty"`

	Errors    map[string]uint64 `json:"errors"` // kind → count: connect, timeout, reset, eof, protocol, other, status_NNN
	ErrorRate float64           `json:"error_rate"`

	TotalSent uint64 `json:"total_sent"` // all phases: equals the requests the server saw
	// GeneratorCPUus is this process's own CPU (user+sys) per request sent,
	// over the whole run: what the load generator costs the shared machine.
	GeneratorCPUus float64 `json:"generator_cpu_us_per_request"`

	MinRateRatio float64 `json:"min_rate_ratio"`
	MaxErrorRate float64 `json:"max_error_rate"`
}

func (r *run) result(ramp, window time.Duration) *Result {
	m := &r.ph.meas
	res := &Result{
		URL:             r.cfg.URL,
		Clients:         r.cfg.Clients,
		PeriodMs:        float64(r.cfg.Period) / float64(time.Millisecond),
		WindowS:         window.Seconds(),
		RampS:           ramp.Seconds(),
		ConnectFailures: r.rampErr.Load(),
		AskedRate:       float64(r.cfg.Clients) / r.cfg.Period.Seconds(),
		Sent:            m.sent.Load(),
		OK200:           m.ok200.Load(),
		NotModified:     m.ok304.Load(),
		Missed:          m.missed.Load(),
		Reconnects:      m.reconnect.Load(),
		Bytes:           m.bytes.Load(),
		Latency:         quantiles(&m.lat),
		Lag:             quantiles(&m.lag),
		Errors:          map[string]uint64{},
		TotalSent:       r.ph.warm.sent.Load() + m.sent.Load(),
		MinRateRatio:    r.cfg.MinRateRatio,
		MaxErrorRate:    r.cfg.MaxErrorRate,
	}
	if window > 0 {
		res.AchievedRate = float64(res.OK200+res.NotModified) / window.Seconds()
	}
	if m.stale.Count() > 0 {
		q := quantiles(&m.stale)
		res.Staleness = &q
	}
	for i, k := range errKinds {
		if n := m.errs[i].Load(); n > 0 {
			res.Errors[k] = n
		}
	}
	if res.ConnectFailures > 0 {
		res.Errors[errConnect] += res.ConnectFailures
	}
	for code := range m.status {
		if n := m.status[code].Load(); n > 0 && !okStatus(code) {
			res.Errors[statusKindP+strconv.Itoa(code)] = n
		}
	}
	var errs uint64
	for _, n := range res.Errors {
		errs += n
	}
	if attempts := res.OK200 + res.NotModified + errs; attempts > 0 {
		res.ErrorRate = float64(errs) / float64(attempts)
	}
	return res
}

// OK reports whether the run held the asked rate within MinRateRatio and
// stayed within MaxErrorRate; reasons says why not.
func (r *Result) OK() (bool, []string) {
	var reasons []string
	if r.AchievedRate < r.MinRateRatio*r.AskedRate {
		reasons = append(reasons, fmt.Sprintf("rate not held: achieved %.0f/s < %.2f × asked %.0f/s (%d polls missed)",
			r.AchievedRate, r.MinRateRatio, r.AskedRate, r.Missed))
	}
	if r.ErrorRate > r.MaxErrorRate {
		reasons = append(reasons, fmt.Sprintf("error rate %.4f%% > max %.4f%% (%s)",
			100*r.ErrorRate, 100*r.MaxErrorRate, r.errorSummary()))
	}
	return len(reasons) == 0, reasons
}

func (r *Result) errorSummary() string {
	if len(r.Errors) == 0 {
		return "none"
	}
	kinds := slices.Sorted(maps.Keys(r.Errors))
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s=%d", k, r.Errors[k])
	}
	return strings.Join(parts, " ")
}

// JSON returns the result as indented JSON.
func (r *Result) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteTable writes a human-readable summary.
func (r *Result) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("url", "%s", r.URL)
	row("clients", "%d (period %gms, ramp %.1fs, %d connect failures)", r.Clients, r.PeriodMs, r.RampS, r.ConnectFailures)
	row("window", "%.1fs", r.WindowS)
	ratio := 0.0
	if r.AskedRate > 0 {
		ratio = r.AchievedRate / r.AskedRate
	}
	row("rate", "%.0f/s achieved of %.0f/s asked (%.1f%%), %d missed polls", r.AchievedRate, r.AskedRate, 100*ratio, r.Missed)
	share := 0.0
	if n := r.OK200 + r.NotModified; n > 0 {
		share = float64(r.NotModified) / float64(n)
	}
	row("responses", "%d sent, %d × 200, %d × 304 (%.1f%% 304), %d reconnects", r.Sent, r.OK200, r.NotModified, 100*share, r.Reconnects)
	row("latency", "p50 %s  p90 %s  p99 %s  max %s", ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max))
	row("send lag", "p50 %s  p99 %s  max %s (behind schedule when sent)", ms(r.Lag.P50), ms(r.Lag.P99), ms(r.Lag.Max))
	if r.Staleness != nil {
		row("staleness", "p50 %s  p90 %s  p99 %s  max %s", ms(r.Staleness.P50), ms(r.Staleness.P90), ms(r.Staleness.P99), ms(r.Staleness.Max))
	} else {
		row("staleness", "n/a (no X-Jawas-Period/X-Jawas-Next headers)")
	}
	row("errors", "%s (rate %.4f%%)", r.errorSummary(), 100*r.ErrorRate)
	row("received", "%.1f MB", float64(r.Bytes)/1e6)
	row("generator", "%.1f µs CPU per request (this process, whole run)", r.GeneratorCPUus)
	ok, reasons := r.OK()
	if ok {
		row("verdict", "OK")
	} else {
		row("verdict", "FAIL: %s", strings.Join(reasons, "; "))
	}
	tw.Flush()
}

func ms(v float64) string { return fmtDur(time.Duration(v * float64(time.Millisecond))) }

// fmtDur prints a duration with 3 significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}
