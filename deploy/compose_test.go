package deploy

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The compose file as far as the tests read it.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Profiles    []string          `yaml:"profiles"`
	Command     any               `yaml:"command"`
	Entrypoint  any               `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   any               `yaml:"depends_on"`
}

// mounts maps each container path to its source: "./x" bind mounts are made
// absolute against the repository, named volumes stay names.
func (s composeService) mounts() map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			continue
		}
		src := parts[0]
		if strings.HasPrefix(src, "./") {
			src = repoPath(src)
		}
		out[parts[1]] = src
	}
	return out
}

// source is the host file that backs container path p (a mount of p or of
// a directory above it), "" when none.
func (s composeService) source(p string) string {
	for dst, src := range s.mounts() {
		if p == dst {
			return src
		}
		if rel, ok := strings.CutPrefix(p, dst+"/"); ok && filepath.IsAbs(src) {
			return filepath.Join(src, rel)
		}
	}
	return ""
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, repoPath("docker-compose.yml"), &c)
	return c
}

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func TestComposeObservabilityProfile(t *testing.T) {
	c := loadCompose(t)
	// The default profile is as before: MinIO, the bucket job and Zombi, no profiles.
	for _, name := range []string{"minio", "createbucket", "zombi"} {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("service %s is gone", name)
		}
		if len(s.Profiles) != 0 {
			t.Errorf("service %s has profiles %v: the default `docker compose up` must keep starting it", name, s.Profiles)
		}
	}
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if !slices.Equal(s.Profiles, []string{"observability"}) {
			t.Errorf("service %s: profiles %v, want [observability]", name, s.Profiles)
		}
		if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
			t.Errorf("service %s: image %q, want a pinned tag", name, s.Image)
		}
	}
	// Every bind mount's source exists; every named volume is declared.
	for name, s := range c.Services {
		for dst, src := range s.mounts() {
			if filepath.IsAbs(src) {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s at %s: %v", name, src, dst, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s: volume %s is not declared under volumes", name, src)
			}
		}
	}

	// Prometheus: its config is the mounted deploy/prometheus/prometheus.yml,
	// its rule files are mounted too, and it scrapes zombi's HTTP port.
	prom := c.Services["prometheus"]
	cfgPath := "/etc/prometheus/prometheus.yml"
	if args, ok := prom.Command.([]any); ok {
		for _, a := range args {
			if v, ok := strings.CutPrefix(a.(string), "--config.file="); ok {
				cfgPath = v
			}
		}
	}
	cfgSrc := prom.source(cfgPath)
	if cfgSrc != repoPath("deploy", "prometheus", "prometheus.yml") {
		t.Fatalf("prometheus reads %s from %q, want deploy/prometheus/prometheus.yml", cfgPath, cfgSrc)
	}
	var pc promConfig
	readYAML(t, cfgSrc, &pc)
	if len(pc.RuleFiles) == 0 {
		t.Error("prometheus.yml loads no rule files")
	}
	for _, rf := range pc.RuleFiles {
		if !path.IsAbs(rf) {
			rf = path.Join(path.Dir(cfgPath), rf)
		}
		src := prom.source(rf)
		if src != repoPath("deploy", "prometheus", "zombi.rules.yml") {
			t.Errorf("rule file %s comes from %q, want deploy/prometheus/zombi.rules.yml", rf, src)
		}
	}
	zombiPort := containerPort(t, c.Services["zombi"], "8080")
	var scraped bool
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("scrape target %q: %v", target, err)
					continue
				}
				if _, ok := c.Services[host]; !ok {
					t.Errorf("scrape target %q: no compose service %s", target, host)
				}
				if host == "zombi" && port == zombiPort && (sc.MetricsPath == "" || sc.MetricsPath == "/metrics") {
					scraped = true
					// The rules' ZombiDown alert names this job.
					if sc.JobName != "zombi" {
						t.Errorf("job %q scrapes zombi: the rules and the dashboard's examples expect job zombi", sc.JobName)
					}
				}
			}
		}
	}
	if !scraped {
		t.Errorf("prometheus.yml does not scrape zombi:%s/metrics", zombiPort)
	}

	// Grafana: datasource to the compose Prometheus, dashboards provider whose
	// path holds the mounted zombi.json, home dashboard mounted.
	gr := c.Services["grafana"]
	dsDir := gr.source("/etc/grafana/provisioning/datasources")
	var ds struct {
		Datasources []struct {
			Type, URL string
			IsDefault bool `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(dsDir, "prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || !ds.Datasources[0].IsDefault {
		t.Fatalf("datasources %+v: want one default prometheus", ds.Datasources)
	}
	u, err := url.Parse(ds.Datasources[0].URL)
	if err != nil || u.Hostname() != "prometheus" || u.Port() != "9090" {
		t.Errorf("datasource url %q: want http://prometheus:9090", ds.Datasources[0].URL)
	}
	var prov struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(gr.source("/etc/grafana/provisioning/dashboards"), "zombi.yml"), &prov)
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" {
		t.Fatalf("dashboard providers %+v: want one file provider", prov.Providers)
	}
	dash := path.Join(prov.Providers[0].Options.Path, "zombi.json")
	if gr.source(dash) != repoPath("deploy", "grafana", "zombi.json") {
		t.Errorf("the provider reads %s, which is not deploy/grafana/zombi.json (%q)", dash, gr.source(dash))
	}
	if home := gr.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" && gr.source(home) != repoPath("deploy", "grafana", "zombi.json") {
		t.Errorf("home dashboard %s is not deploy/grafana/zombi.json", home)
	}
}

// containerPort is the container side of the service's published port want.
func containerPort(t *testing.T, s composeService, want string) string {
	t.Helper()
	for _, p := range s.Ports {
		parts := strings.Split(p, ":")
		if parts[len(parts)-1] == want {
			return want
		}
	}
	t.Fatalf("zombi does not publish container port %s (ports %v)", want, s.Ports)
	return ""
}

// TestComposeConfig runs `docker compose config` where the compose plugin
// exists (it needs no engine to check the file).
func TestComposeConfig(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI: `docker compose config` not run (TestComposeObservabilityProfile checked the file)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("docker has no compose plugin (%s): `docker compose config` not run", strings.TrimSpace(string(out)))
	}
	for _, profile := range []string{"", "observability"} {
		args := []string{"compose", "-f", repoPath("docker-compose.yml")}
		if profile != "" {
			args = append(args, "--profile", profile)
		}
		out, err := exec.CommandContext(ctx, "docker", append(args, "config", "--services")...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker compose config (profile %q): %v\n%s", profile, err, out)
		}
		got := strings.Fields(string(out))
		slices.Sort(got)
		want := []string{"createbucket", "minio", "zombi"}
		if profile != "" {
			want = []string{"createbucket", "grafana", "minio", "prometheus", "zombi"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("profile %q: services %v, want %v", profile, got, want)
		}
	}
}

// TestRecordingRuleNames: recorded names follow level:metric:operations,
// are unique, and every alert that uses a recorded name uses a defined one.
func TestRecordingRuleNames(t *testing.T) {
	r := loadRules(t)
	seen := map[string]bool{}
	nameRe := regexp.MustCompile(`^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$`)
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			if (rule.Record == "") == (rule.Alert == "") {
				t.Errorf("group %s: a rule needs exactly one of record and alert: %+v", g.Name, rule)
			}
			if rule.Record == "" {
				continue
			}
			if !nameRe.MatchString(rule.Record) {
				t.Errorf("recorded name %s: want level:metric:operations", rule.Record)
			}
			if seen[rule.Record] {
				t.Errorf("recorded name %s defined twice", rule.Record)
			}
			seen[rule.Record] = true
			if strings.Contains(rule.Record, "_total:") {
				t.Errorf("recorded name %s: drop _total once rate() is applied", rule.Record)
			}
		}
	}
	for _, e := range append(r.exprs(), loadDashboard(t).exprs(t)...) {
		q, err := parsePromQL(e.Expr)
		if err != nil {
			t.Errorf("%s: %v", e.Where, err)
			continue
		}
		for _, m := range q.Metrics {
			if strings.Contains(m, ":") && !seen[m] {
				t.Errorf("%s uses %s, which no rule records", e.Where, m)
			}
		}
	}
}

// composeGo is the module whose schema/compose-spec.json docker compose
// validates files against; the test reads it from the module cache.
const composeGo = "github.com/compose-spec/compose-go/v2@v2.17.0"

// TestComposeSchema validates docker-compose.yml against the Compose
// Specification's JSON schema (the one docker compose uses), so a misspelt
// key or a wrong type fails here even without the compose plugin.
func TestComposeSchema(t *testing.T) {
	// The module's zip, not its extracted tree: compose-go asks for a newer
	// Go than ours, so go mod download reports an error after fetching it.
	cmd := exec.Command("go", "mod", "download", "-json", composeGo)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, _ := cmd.Output()
	var mod struct{ Zip string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Zip == "" {
		t.Fatalf("go mod download %s: no module zip in %s (%v)", composeGo, out, err)
	}
	z, err := zip.OpenReader(mod.Zip)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	schemaFile, err := z.Open(composeGo + "/schema/compose-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	defer schemaFile.Close()
	doc, err := jsonschema.UnmarshalJSON(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("compose-spec.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("compose-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	check := func(y []byte) error {
		var v any
		if err := yaml.Unmarshal(y, &v); err != nil {
			return err
		}
		// Through JSON: the schema validator wants JSON's types (float64, map[string]any).
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			return err
		}
		return schema.Validate(inst)
	}
	b, err := os.ReadFile(repoPath("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := check(b); err != nil {
		t.Fatalf("docker-compose.yml does not meet the Compose Specification: %v", err)
	}
	// The schema does catch mistakes: a misspelt key and a wrong type.
	for _, bad := range []string{
		strings.Replace(string(b), "    profiles: [\"observability\"]", "    profile: [\"observability\"]", 1),
		strings.Replace(string(b), "    profiles: [\"observability\"]", "    profiles: observability", 1),
	} {
		if bad == string(b) {
			t.Fatal("the mutation did not apply: update this test")
		}
		if err := check([]byte(bad)); err == nil {
			t.Error("a broken compose file passed the schema")
		}
	}
}
