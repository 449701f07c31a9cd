package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/goccy/go-yaml"
)

// repoPath is a path relative to the repository root.
func repoPath(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), ".."}, parts...)...)
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dashboard is the part of Grafana's dashboard JSON the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Type       string          `json:"type"`
			Name       string          `json:"name"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID        string         `json:"refId"`
		Expr         string         `json:"expr"`
		LegendFormat string         `json:"legendFormat"`
		Datasource   *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(repoPath("deploy", "grafana", "zombi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("deploy/grafana/zombi.json: %v", err)
	}
	return d
}

// allPanels flattens rows.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// promExpr is one PromQL expression and where it comes from.
type promExpr struct {
	Where, Expr, Legend string
}

// exprs are every PromQL expression of the dashboard: panel targets and
// query variables.
func (d dashboard) exprs(t *testing.T) []promExpr {
	t.Helper()
	var out []promExpr
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out = append(out, promExpr{Where: "panel " + p.Title + " " + tg.RefID, Expr: tg.Expr, Legend: tg.LegendFormat})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var s string
			if err2 := json.Unmarshal(v.Query, &s); err2 != nil {
				t.Fatalf("variable %s: query is neither an object nor a string: %v", v.Name, err)
			}
			q.Query = s
		}
		out = append(out, promExpr{Where: "variable " + v.Name, Expr: q.Query})
	}
	return out
}

// rulesFile is Prometheus' rule file format.
type rulesFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string            `yaml:"record"`
			Alert  string            `yaml:"alert"`
			Expr   string            `yaml:"expr"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) rulesFile {
	t.Helper()
	var r rulesFile
	readYAML(t, repoPath("deploy", "prometheus", "zombi.rules.yml"), &r)
	return r
}

// records maps each recorded name to its expression.
func (r rulesFile) records() map[string]string {
	out := map[string]string{}
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			if rule.Record != "" {
				out[rule.Record] = rule.Expr
			}
		}
	}
	return out
}

func (r rulesFile) exprs() []promExpr {
	var out []promExpr
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			name := rule.Record
			if name == "" {
				name = rule.Alert
			}
			out = append(out, promExpr{Where: "rule " + g.Name + "/" + name, Expr: rule.Expr})
		}
	}
	return out
}
