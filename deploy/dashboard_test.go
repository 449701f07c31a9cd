package deploy

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// contractMetrics are the metric families of DESIGN.md "Metrics" and issue
// 12 point 3 (the names are the contract between /metrics and the
// dashboard), the eleven zombi_* names of before, and the security
// counters. Histograms are listed by family name; value says whether it
// is a histogram.
var contractMetrics = map[string]bool{
	"kafka_brokers": false, "kafka_topic_partitions": false,
	"kafka_topic_partition_current_offset": false, "kafka_topic_partition_oldest_offset": false,
	"kafka_consumergroup_current_offset": false, "kafka_consumergroup_lag": false,
	"kafka_consumergroup_lag_sum": false, "kafka_consumergroup_members": false,

	"zombi_kafka_request_duration_seconds": true, "zombi_http_request_duration_seconds": true,
	"zombi_log_append_duration_seconds": true, "zombi_log_commit_records": true,
	"zombi_records_in_total": false, "zombi_bytes_in_total": false,
	"zombi_records_out_total": false, "zombi_bytes_out_total": false,
	"zombi_tier_pending_bytes": false, "zombi_tier_flush_duration_seconds": true,
	"zombi_s3_requests_total": false, "zombi_tier_cold_end_offset": false, "zombi_tier_s3_reachable": false,
	"zombi_writes_refused_total": false, "zombi_groups": false, "zombi_connections": false,
	"zombi_build_info": false,
	// The request counters of point 3, and kafka_exporter's offset sum.
	"zombi_kafka_requests_total": false, "zombi_http_requests_total": false,
	"kafka_consumergroup_current_offset_sum": false,

	"zombi_uptime_seconds": false, "zombi_writes_total": false, "zombi_write_bytes_total": false,
	"zombi_write_requests_total": false, "zombi_write_rate_per_second": false,
	"zombi_write_latency_avg_microseconds": false, "zombi_reads_total": false,
	"zombi_read_records_total": false, "zombi_read_rate_per_second": false,
	"zombi_read_latency_avg_microseconds": false, "zombi_errors_total": false,
	"zombi_connections_refused_total": false,
}

// prometheusOwn are series Prometheus makes itself, never in a scrape.
var prometheusOwn = map[string]bool{"up": true}

// family is the metric family a queried name belongs to: histogram series
// (_bucket, _sum, _count) map to their family.
func family(name string, isHistogram func(string) bool) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && isHistogram(base) {
			return base
		}
	}
	return name
}

func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Fatalf("uid %q title %q: both needed (links and provisioning use the uid)", d.UID, d.Title)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d: want a current one (>= 39, Grafana 11+)", d.SchemaVersion)
	}
	var dsVar bool
	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "datasource" && v.Name == "datasource" && strings.Contains(string(v.Query), "prometheus") {
			dsVar = true
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
			t.Errorf("variable %s: datasource %+v, want uid ${datasource}", v.Name, v.Datasource)
		}
	}
	if !dsVar {
		t.Fatal("no templating variable `datasource` of type datasource (query prometheus)")
	}
	ids := map[int]string{}
	panels := d.allPanels()
	if len(panels) < 20 {
		t.Errorf("%d panels: the dashboard lost panels", len(panels))
	}
	titles := map[string]bool{}
	for _, p := range panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		if p.Type == "row" {
			continue
		}
		titles[p.Title] = true
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q: datasource %+v, want prometheus ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no queries", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: refId %q empty or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q %s: empty expr", p.Title, tg.RefID)
			}
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q %s: target datasource %+v", p.Title, tg.RefID, tg.Datasource)
			}
			for _, m := range regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)`).FindAllStringSubmatch(tg.Expr, -1) {
				if !vars[m[1]] {
					t.Errorf("panel %q %s: $%s is no dashboard variable", p.Title, tg.RefID, m[1])
				}
			}
		}
	}
	// What issue 12 point 4 asks the dashboard to show.
	for _, want := range []string{"Records in per topic", "Bytes out per topic", "Kafka request latency by API (p50, p99)",
		"HTTP request latency by route (p50, p99)", "Log append latency (p50, p99, p99.9)", "Records per group commit",
		"Lag per group", "Log end offset per partition", "Hot tier: bytes not yet in S3", "Cold tier end offset per partition",
		"S3 requests by operation and result", "Open connections by listener", "Writes refused by reason", "Groups by state"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

// TestDashboardUsesContractNames: every name the dashboard and the rules
// query is a contract name (or Prometheus' own, or a recorded rule), and
// histogram_quantile reads _bucket series of histograms only. This needs no
// scrape; TestDashboardMetricsInScrape checks the same names on the real
// binary.
func TestDashboardUsesContractNames(t *testing.T) {
	isHist := func(n string) bool { return contractMetrics[n] }
	records := loadRules(t).records()
	exprs := append(loadDashboard(t).exprs(t), loadRules(t).exprs()...)
	used := map[string]bool{}
	for _, e := range exprs {
		q, err := parsePromQL(e.Expr)
		if err != nil {
			t.Errorf("%s: %v", e.Where, err)
			continue
		}
		if len(q.Metrics) == 0 {
			t.Errorf("%s: %q queries no metric", e.Where, e.Expr)
		}
		for _, m := range q.Metrics {
			if _, rec := records[m]; rec || prometheusOwn[m] {
				continue
			}
			f := family(m, isHist)
			if _, ok := contractMetrics[f]; !ok {
				t.Errorf("%s: %s is not a contract metric name (DESIGN.md Metrics, issue 12 point 3)", e.Where, m)
			}
			if contractMetrics[f] && f == m {
				t.Errorf("%s: histogram %s queried without _bucket, _sum or _count", e.Where, m)
			}
			used[f] = true
		}
		if strings.Contains(e.Expr, "histogram_quantile") {
			for _, m := range q.Metrics {
				if !strings.HasSuffix(m, "_bucket") && records[m] == "" {
					t.Errorf("%s: histogram_quantile over %s, not a _bucket series", e.Where, m)
				}
			}
		}
	}
	// The list of what the dashboard shows, by metric.
	var missing []string
	for _, m := range []string{"zombi_records_in_total", "zombi_records_out_total", "zombi_bytes_in_total", "zombi_bytes_out_total",
		"zombi_kafka_request_duration_seconds", "zombi_http_request_duration_seconds", "zombi_log_append_duration_seconds",
		"zombi_log_commit_records", "kafka_consumergroup_lag_sum", "kafka_topic_partition_current_offset",
		"zombi_tier_pending_bytes", "zombi_tier_cold_end_offset", "zombi_tier_s3_reachable", "zombi_s3_requests_total",
		"zombi_connections", "zombi_writes_refused_total", "zombi_groups"} {
		if !used[m] {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard and rules do not query %v", missing)
	}
}
