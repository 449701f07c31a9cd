package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The Kafka door's security counters show in /stats and /metrics when the
// server is given them.
func TestStatsAndMetricsShowSecurityCounters(t *testing.T) {
	e := newEnv(t, Config{SecurityCounters: func() map[string]uint64 {
		return map[string]uint64{"refused_per_ip": 3, "auth_failures": 7}
	}})
	code, body := e.do(http.MethodGet, "/stats", "", nil)
	if code != http.StatusOK {
		t.Fatalf("/stats: %d %s", code, body)
	}
	var st struct {
		UptimeSecs *float64          `json:"uptime_secs"`
		Security   map[string]uint64 `json:"security"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.UptimeSecs == nil || st.Security["refused_per_ip"] != 3 || st.Security["auth_failures"] != 7 {
		t.Fatalf("/stats = %s", body)
	}
	code, body = e.do(http.MethodGet, "/metrics", "", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"# TYPE zombi_connections_refused_total counter\n",
		`zombi_connections_refused_total{reason="auth_failures"} 7` + "\n",
		`zombi_connections_refused_total{reason="refused_per_ip"} 3` + "\n",
		"zombi_errors_total 0\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, body)
		}
	}
	// Without them, /stats keeps the seed's shape.
	plain := newEnv(t, Config{})
	if _, body := plain.do(http.MethodGet, "/stats", "", nil); strings.Contains(string(body), "security") {
		t.Fatalf("/stats without counters: %s", body)
	}
}
