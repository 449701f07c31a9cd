package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The dashboard's and the rules' queries evaluated by Prometheus' own engine
// (deploy/promcheck, a module of its own) over two real scrapes taken 15 s
// apart in the engine's clock, as Prometheus would have stored them with
// job="zombi": each dashboard query returns samples, not only NaN, so the
// joins, histogram_quantile and rate() find what they need.

// series are the samples of one scrape by series (name{labels}).
func series(fams map[string]*dto.MetricFamily, target map[string]string) map[string]float64 {
	out := map[string]float64{}
	key := func(name string, lps []*dto.LabelPair, extra ...string) string {
		ls := map[string]string{}
		for k, v := range target {
			ls[k] = v
		}
		for _, lp := range lps {
			ls[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(extra); i += 2 {
			ls[extra[i]] = extra[i+1]
		}
		names := make([]string, 0, len(ls))
		for k := range ls {
			names = append(names, k)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString(name + "{")
		for i, k := range names {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(k + "=" + strconv.Quote(ls[k]))
		}
		b.WriteString("}")
		return b.String()
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			lps := m.GetLabel()
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key(name, lps)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(name, lps)] = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				out[key(name, lps)] = m.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, bk := range h.GetBucket() {
					out[key(name+"_bucket", lps, "le", strconv.FormatFloat(bk.GetUpperBound(), 'g', -1, 64))] = float64(bk.GetCumulativeCount())
				}
				out[key(name+"_bucket", lps, "le", "+Inf")] = float64(h.GetSampleCount())
				out[key(name+"_sum", lps)] = h.GetSampleSum()
				out[key(name+"_count", lps)] = float64(h.GetSampleCount())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					out[key(name, lps, "quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64))] = q.GetValue()
				}
				out[key(name+"_sum", lps)] = s.GetSampleSum()
				out[key(name+"_count", lps)] = float64(s.GetSampleCount())
			}
		}
	}
	out[key("up", nil)] = 1 // Prometheus' own, for the Up panel
	return out
}

// loadCommand is promqltest's load command: each series at 0 s and 15 s.
func loadCommand(first, second map[string]float64) string {
	keys := map[string]bool{}
	for k := range first {
		keys[k] = true
	}
	for k := range second {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	val := func(m map[string]float64, k string) string {
		v, ok := m[k]
		if !ok || math.IsNaN(v) {
			return "_"
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	var b strings.Builder
	b.WriteString("load 15s\n")
	for _, k := range sorted {
		fmt.Fprintf(&b, "  %s %s %s\n", k, val(first, k), val(second, k))
	}
	return b.String()
}

// grafanaVars replaces the dashboard's variables as Grafana would with
// every value selected ("All" is .*) and a rate interval covering both
// samples.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$job", ".*", "$instance", ".*", "$topic", ".*", "$consumergroup", ".*")

type promcheckExpr struct {
	Where     string `json:"where"`
	Expr      string `json:"expr"`
	NonEmpty  bool   `json:"non_empty"`
	NotAllNaN bool   `json:"not_all_nan"`
}

// evaluateQueries runs deploy/promcheck over the two scrapes.
func evaluateQueries(t *testing.T, first, second map[string]*dto.MetricFamily, withS3 bool) {
	t.Helper()
	target := map[string]string{"job": "zombi", "instance": "zombi:8080"}
	var exprs []promcheckExpr
	for _, e := range loadDashboard(t).exprs(t) {
		expr := e.Expr
		if inner, ok := strings.CutPrefix(expr, "label_values("); ok { // a variable: its selector must find series
			expr = inner[:strings.LastIndex(inner, ",")]
		}
		// Without a bucket the tier's series are absent or never move.
		tier := false
		for m := range bucketOnly {
			tier = tier || strings.Contains(expr, m)
		}
		tier = tier || strings.Contains(expr, "zombi_tier_flush_duration_seconds") || strings.Contains(expr, "zombi_s3_requests_total")
		exprs = append(exprs, promcheckExpr{Where: e.Where, Expr: grafanaVars.Replace(expr),
			NonEmpty: withS3 || !tier, NotAllNaN: withS3 || !tier})
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			// Recording rules must record something; alerts must only evaluate
			// (a healthy Zombi fires none).
			exprs = append(exprs, promcheckExpr{Where: "rule " + r.Record + r.Alert, Expr: r.Expr, NonEmpty: r.Record != ""})
		}
	}
	in, err := json.Marshal(map[string]any{
		"load":  loadCommand(series(first, target), series(second, target)),
		"at":    15,
		"rules": repoPath("deploy", "prometheus", "zombi.rules.yml"),
		"exprs": exprs,
	})
	if err != nil {
		t.Fatal(err)
	}
	inPath := filepath.Join(t.TempDir(), "promcheck.json")
	if err := os.WriteFile(inPath, in, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := []string{"test", "-count=1", "-run", "^TestQueries$"}
	if testing.Verbose() {
		args = append(args, "-v")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	cmd.Dir = repoPath("deploy", "promcheck")
	cmd.Env = append(os.Environ(), "PROMCHECK_INPUT="+inPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("deploy/promcheck: %v\n%s", err, out.String())
	}
	if testing.Verbose() {
		t.Logf("deploy/promcheck:\n%s", out.String())
	}
}
