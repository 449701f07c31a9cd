package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// The chart is checked with the real helm (helm.sh/helm/v4, built once by
// scripts/ensure-helm.sh; `make test-deps` builds it): helm lint, and helm
// template with several sets of values, its output parsed and checked.

var (
	helmOnce sync.Once
	helmBin  string
	helmErr  error
)

// helm returns the helm binary: $ZOMBI_HELM, else scripts/ensure-helm.sh's.
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		if helmBin = os.Getenv("ZOMBI_HELM"); helmBin != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		var args []string
		if testing.Short() { // no minutes-long build in the fast loop
			args = append(args, "--cached")
		}
		var stderr bytes.Buffer
		c := exec.CommandContext(ctx, repoPath("scripts", "ensure-helm.sh"), args...)
		c.Stderr = &stderr
		out, err := c.Output()
		if err != nil {
			helmErr = errors.New("scripts/ensure-helm.sh: " + err.Error() + "\n" + stderr.String())
			return
		}
		helmBin = strings.TrimSpace(string(out))
	})
	if helmErr != nil {
		if strings.Contains(helmErr.Error(), "exit status 3") {
			t.Skip("no go on PATH to build helm: ", helmErr)
		}
		if strings.Contains(helmErr.Error(), "exit status 4") {
			t.Skip("-short and helm not built yet (scripts/ensure-helm.sh or make test-deps builds it)")
		}
		t.Fatal(helmErr)
	}
	return helmBin
}

func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, stderr bytes.Buffer
	c := exec.CommandContext(ctx, helm(t), args...)
	c.Stdout, c.Stderr = &out, &stderr
	// No user configuration, repositories or caches of the machine.
	home := t.TempDir()
	c.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home+"/config", "HELM_CACHE_HOME="+home+"/cache", "HELM_DATA_HOME="+home+"/data")
	err := c.Run()
	if err != nil {
		return out.String(), errors.New(err.Error() + ": " + stderr.String())
	}
	return out.String(), nil
}

var chartDir = repoPath("deploy", "helm", "zombi")

// k8sObject is the part of a manifest the tests read; Spec stays generic
// where only a few fields matter.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec map[string]any    `yaml:"spec"`
	Data map[string]string `yaml:"data"`
}

// rendered is helm template's output, by kind and name.
type rendered map[string]map[string]k8sObject

func (r rendered) one(t *testing.T, kind string) k8sObject {
	t.Helper()
	if len(r[kind]) != 1 {
		t.Fatalf("%d objects of kind %s, want 1", len(r[kind]), kind)
	}
	for _, o := range r[kind] {
		return o
	}
	return k8sObject{}
}

func helmTemplate(t *testing.T, set ...string) (rendered, string) {
	t.Helper()
	args := []string{"template", "t", chartDir, "--namespace", "ns"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatalf("helm %v: %v", args, err)
	}
	r := rendered{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template output: %v\n%s", err, out)
		}
		if o.Kind == "" {
			continue
		}
		if r[o.Kind] == nil {
			r[o.Kind] = map[string]k8sObject{}
		}
		if _, dup := r[o.Kind][o.Metadata.Name]; dup {
			t.Errorf("%s %s rendered twice", o.Kind, o.Metadata.Name)
		}
		r[o.Kind][o.Metadata.Name] = o
	}
	return r, out
}

// The StatefulSet's pod, re-read as typed structs.
type podSpec struct {
	ServiceName string `yaml:"serviceName"`
	Replicas    int    `yaml:"replicas"`
	Selector    struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	VolumeClaimTemplates []struct {
		Metadata struct{ Name string } `yaml:"metadata"`
		Spec     struct {
			AccessModes []string `yaml:"accessModes"`
			Resources   struct {
				Requests map[string]string `yaml:"requests"`
			} `yaml:"resources"`
		} `yaml:"spec"`
	} `yaml:"volumeClaimTemplates"`
	Template struct {
		Metadata struct {
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"metadata"`
		Spec struct {
			SecurityContext map[string]any `yaml:"securityContext"`
			Containers      []container    `yaml:"containers"`
			Volumes         []struct {
				Name     string         `yaml:"name"`
				EmptyDir map[string]any `yaml:"emptyDir"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     *string
		ValueFrom *struct {
			SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
			FieldRef     *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	LivenessProbe   *probe         `yaml:"livenessProbe"`
	ReadinessProbe  *probe         `yaml:"readinessProbe"`
	StartupProbe    *probe         `yaml:"startupProbe"`
	Resources       map[string]any `yaml:"resources"`
	SecurityContext map[string]any `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

func statefulSet(t *testing.T, r rendered) (k8sObject, podSpec, container) {
	t.Helper()
	sts := r.one(t, "StatefulSet")
	b, err := yaml.Marshal(sts.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var ps podSpec
	if err := yaml.Unmarshal(b, &ps); err != nil {
		t.Fatal(err)
	}
	if len(ps.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(ps.Template.Spec.Containers))
	}
	return sts, ps, ps.Template.Spec.Containers[0]
}

// env is the container's plain env values (valueFrom entries left out).
func (c container) env() map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		if e.Value != nil {
			out[e.Name] = *e.Value
		}
	}
	return out
}

func (c container) secretRef(name string) (secret, key string) {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key
		}
	}
	return "", ""
}

func TestHelmLint(t *testing.T) {
	for _, set := range [][]string{nil, {"metrics.serviceMonitor.enabled=true", "s3.bucket=events", "s3.endpoint=http://minio:9000",
		"s3.credentials.accessKeyId=AK", "s3.credentials.secretAccessKey=SK"}} {
		args := []string{"lint", "--strict", chartDir}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		out, err := runHelm(t, args...)
		if err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(out, "0 chart(s) failed") {
			t.Fatalf("helm lint: %s", out)
		}
	}
}

func TestHelmTemplateDefaults(t *testing.T) {
	r, _ := helmTemplate(t)
	sts, ps, c := statefulSet(t, r)
	if ps.Replicas != 1 {
		t.Errorf("replicas %d: Zombi is one broker", ps.Replicas)
	}
	// Services: the ClusterIP one with http and kafka, and the headless one
	// the StatefulSet names.
	if len(r["Service"]) != 2 {
		t.Fatalf("%d Services, want 2", len(r["Service"]))
	}
	headless, ok := r["Service"][ps.ServiceName]
	if !ok || headless.Spec["clusterIP"] != "None" {
		t.Fatalf("serviceName %q: no headless Service of that name (%v)", ps.ServiceName, headless.Spec["clusterIP"])
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for name, svc := range r["Service"] {
		sel := map[string]string{}
		for k, v := range svc.Spec["selector"].(map[string]any) {
			sel[k] = v.(string)
		}
		for k, v := range sel {
			if ps.Template.Metadata.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, not on the pod (%v)", name, k, v, ps.Template.Metadata.Labels)
			}
		}
		got := map[string]uint64{}
		for _, p := range svc.Spec["ports"].([]any) {
			pm := p.(map[string]any)
			got[pm["name"].(string)] = pm["port"].(uint64)
			if tp := pm["targetPort"].(string); !ports[tp] {
				t.Errorf("Service %s targets port %s, which the container does not name", name, tp)
			}
		}
		if got["http"] != 8080 || got["kafka"] != 9092 {
			t.Errorf("Service %s ports %v, want http 8080 and kafka 9092", name, got)
		}
	}
	// The data volume: a claim template mounted at ZOMBI_DATA_DIR.
	env := c.env()
	if len(ps.VolumeClaimTemplates) != 1 || ps.VolumeClaimTemplates[0].Spec.Resources.Requests["storage"] == "" {
		t.Fatalf("volumeClaimTemplates %+v: want one with a storage request", ps.VolumeClaimTemplates)
	}
	claim := ps.VolumeClaimTemplates[0].Metadata.Name
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.Name == claim && m.MountPath == env["ZOMBI_DATA_DIR"] && m.MountPath != "" {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("claim %s is not mounted at ZOMBI_DATA_DIR=%q (%+v)", claim, env["ZOMBI_DATA_DIR"], c.VolumeMounts)
	}
	// Probes: the admin REST contract's routes on the http port.
	for name, pr := range map[string]*probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := map[string]string{"liveness": "/health/live", "readiness": "/health/ready"}[name]
		if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != want || pr.HTTPGet.Port != "http" {
			t.Errorf("%s probe %+v, want GET %s on port http", name, pr, want)
		}
	}
	// Kafka clients are sent to the pod's stable name behind the headless Service.
	adv := env["ZOMBI_KAFKA_ADVERTISED_LISTENERS"]
	if adv != "PLAINTEXT://$(POD_NAME)."+ps.ServiceName+".$(POD_NAMESPACE).svc.cluster.local:9092" {
		t.Errorf("ZOMBI_KAFKA_ADVERTISED_LISTENERS=%q", adv)
	}
	// $(POD_NAME) expands only when POD_NAME is defined earlier in the list.
	defined := map[string]bool{}
	for _, e := range c.Env {
		if e.Value != nil {
			for _, ref := range []string{"POD_NAME", "POD_NAMESPACE"} {
				if strings.Contains(*e.Value, "$("+ref+")") && !defined[ref] {
					t.Errorf("%s uses $(%s) before it is defined", e.Name, ref)
				}
			}
		}
		defined[e.Name] = true
	}
	// No S3 settings, no Secret, no ServiceMonitor by default.
	if len(r["Secret"]) != 0 || len(r["ServiceMonitor"]) != 0 || env["ZOMBI_S3_BUCKET"] != "" {
		t.Errorf("defaults render Secrets %v, ServiceMonitors %v, bucket %q", len(r["Secret"]), len(r["ServiceMonitor"]), env["ZOMBI_S3_BUCKET"])
	}
	if s, _ := c.secretRef("AWS_ACCESS_KEY_ID"); s != "" {
		t.Errorf("AWS_ACCESS_KEY_ID from Secret %s without any credentials set", s)
	}
	// Runs as the image's user, read-only root, no privileges.
	if ps.Template.Spec.SecurityContext["runAsNonRoot"] != true || c.SecurityContext["readOnlyRootFilesystem"] != true ||
		c.SecurityContext["allowPrivilegeEscalation"] != false {
		t.Errorf("securityContext pod %v container %v", ps.Template.Spec.SecurityContext, c.SecurityContext)
	}
	if c.Resources["requests"] == nil {
		t.Error("no resource requests")
	}
	if sts.Metadata.Labels["app.kubernetes.io/name"] != "zombi" {
		t.Errorf("labels %v", sts.Metadata.Labels)
	}
}

func TestHelmTemplateS3AndServiceMonitor(t *testing.T) {
	r, _ := helmTemplate(t, "metrics.serviceMonitor.enabled=true", "s3.bucket=events", "s3.endpoint=http://minio:9000",
		"s3.region=eu-west-1", "s3.credentials.accessKeyId=AKID", "s3.credentials.secretAccessKey=SECRET")
	_, ps, c := statefulSet(t, r)
	env := c.env()
	if env["ZOMBI_S3_BUCKET"] != "events" || env["ZOMBI_S3_ENDPOINT"] != "http://minio:9000" || env["ZOMBI_S3_REGION"] != "eu-west-1" {
		t.Errorf("S3 env %v", env)
	}
	sec := r.one(t, "Secret")
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		name, key := c.secretRef(v)
		if name != sec.Metadata.Name || sec.Data[key] == "" {
			t.Errorf("%s from Secret %q key %q; rendered Secret %s has %v", v, name, key, sec.Metadata.Name, sec.Data)
		}
		if _, plain := env[v]; plain {
			t.Errorf("%s as a plain value", v)
		}
	}
	if sec.Data["AWS_ACCESS_KEY_ID"] != "QUtJRA==" { // base64("AKID")
		t.Errorf("Secret data %v", sec.Data)
	}
	if ps.Template.Metadata.Annotations["checksum/s3-secret"] == "" {
		t.Error("no checksum/s3-secret annotation: a rotated key would not restart the pod")
	}

	sm := r.one(t, "ServiceMonitor")
	if sm.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %s", sm.APIVersion)
	}
	b, _ := yaml.Marshal(sm.Spec)
	var spec struct {
		Selector struct {
			MatchLabels      map[string]string `yaml:"matchLabels"`
			MatchExpressions []struct {
				Key, Operator string
			} `yaml:"matchExpressions"`
		} `yaml:"selector"`
		Endpoints []struct{ Port, Path string } `yaml:"endpoints"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if len(spec.Endpoints) != 1 || spec.Endpoints[0].Port != "http" || spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want port http path /metrics", spec.Endpoints)
	}
	// It selects exactly the ClusterIP Service (each pod scraped once).
	var selected []string
	for name, svc := range r["Service"] {
		match := true
		for k, v := range spec.Selector.MatchLabels {
			match = match && svc.Metadata.Labels[k] == v
		}
		for _, e := range spec.Selector.MatchExpressions {
			_, has := svc.Metadata.Labels[e.Key]
			switch e.Operator {
			case "DoesNotExist":
				match = match && !has
			case "Exists":
				match = match && has
			default:
				t.Fatalf("operator %s not read by this test", e.Operator)
			}
		}
		if match {
			selected = append(selected, name)
		}
	}
	if len(selected) != 1 || selected[0] == ps.ServiceName {
		t.Errorf("ServiceMonitor selects Services %v, want only the ClusterIP one (headless is %s)", selected, ps.ServiceName)
	}
}

func TestHelmTemplateExistingSecretNoPersistence(t *testing.T) {
	r, _ := helmTemplate(t, "s3.bucket=events", "s3.credentials.existingSecret=my-s3", "s3.credentials.accessKeyIdKey=id",
		"s3.credentials.secretAccessKeyKey=secret", "persistence.enabled=false")
	_, ps, c := statefulSet(t, r)
	if len(r["Secret"]) != 0 {
		t.Errorf("a Secret rendered beside existingSecret: %v", r["Secret"])
	}
	for v, wantKey := range map[string]string{"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"} {
		if name, key := c.secretRef(v); name != "my-s3" || key != wantKey {
			t.Errorf("%s from %s/%s, want my-s3/%s", v, name, key, wantKey)
		}
	}
	if len(ps.VolumeClaimTemplates) != 0 {
		t.Errorf("persistence off still renders claims")
	}
	var data bool
	for _, v := range ps.Template.Spec.Volumes {
		data = data || v.Name == "data" && v.EmptyDir != nil
	}
	if !data {
		t.Errorf("persistence off: no emptyDir volume data (%+v)", ps.Template.Spec.Volumes)
	}
}

// TestHelmTemplateRefusesBadValues: values that would make a broken pod are
// refused by helm with a message that names them (values.schema.json and
// the templates' checks).
func TestHelmTemplateRefusesBadValues(t *testing.T) {
	for _, tc := range []struct{ set, want string }{
		{"s3.credentials.accessKeyId=AK", "set both accessKeyId and secretAccessKey"},
		{"config.LOG=debug", "LOG"},
		{"service.httpPort=70000", "httpPort"},
		{"s3.endpoint=minio:9000", "endpoint"},
		{"persistence.size=lots", "size"},
	} {
		_, err := runHelm(t, "template", "t", chartDir, "--set", tc.set)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %s: %v, want a refusal naming %q", tc.set, err, tc.want)
		}
	}
}

// TestHelmTemplateListeners: without kafka.advertisedListeners, every
// listener of config.ZOMBI_KAFKA_LISTENERS is advertised on the pod's name
// with its own protocol and port (Zombi refuses an advertised protocol with
// no listener); an explicit value wins.
func TestHelmTemplateListeners(t *testing.T) {
	host := "$(POD_NAME).t-zombi-headless.$(POD_NAMESPACE).svc.cluster.local"
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{nil, "PLAINTEXT://" + host + ":9092"},
		{[]string{`config.ZOMBI_KAFKA_LISTENERS=SASL_SSL://0.0.0.0:9093\,PLAINTEXT://0.0.0.0:{ZOMBI_KAFKA_PORT}`},
			"SASL_SSL://" + host + ":9093,PLAINTEXT://" + host + ":9092"},
		{[]string{"service.kafkaPort=19092"}, "PLAINTEXT://" + host + ":19092"},
		{[]string{"kafka.advertisedListeners=PLAINTEXT://kafka.example:9092"}, "PLAINTEXT://kafka.example:9092"},
	} {
		r, _ := helmTemplate(t, tc.set...)
		_, _, c := statefulSet(t, r)
		if got := c.env()["ZOMBI_KAFKA_ADVERTISED_LISTENERS"]; got != tc.want {
			t.Errorf("--set %v: ZOMBI_KAFKA_ADVERTISED_LISTENERS=%q, want %q", tc.set, got, tc.want)
		}
	}
	if _, err := runHelm(t, "template", "t", chartDir, "--set", "config.ZOMBI_KAFKA_LISTENERS=nonsense"); err == nil ||
		!strings.Contains(err.Error(), "is not PROTOCOL://host:port") {
		t.Errorf("a listener without a protocol: %v", err)
	}
}

// TestHelmChartCopies: helm reads only files inside the chart, so the chart
// carries copies of the dashboard and the rules; they must be the same.
func TestHelmChartCopies(t *testing.T) {
	for copyPath, orig := range map[string]string{
		"files/zombi.json":      repoPath("deploy", "grafana", "zombi.json"),
		"files/zombi.rules.yml": repoPath("deploy", "prometheus", "zombi.rules.yml"),
	} {
		a, err := os.ReadFile(filepath.Join(chartDir, copyPath))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(orig)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("deploy/helm/zombi/%s differs from %s: cp %s deploy/helm/zombi/%s", copyPath, orig, orig, copyPath)
		}
	}
}

func TestHelmTemplateMonitoring(t *testing.T) {
	r, _ := helmTemplate(t, "metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true",
		"metrics.grafanaDashboard.enabled=true", "metrics.grafanaDashboard.annotations.grafana_folder=Zombi")
	cm := r.one(t, "ConfigMap")
	dash, err := os.ReadFile(repoPath("deploy", "grafana", "zombi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["zombi.json"] != strings.TrimRight(string(dash), "\n") {
		t.Errorf("ConfigMap %s: zombi.json is not deploy/grafana/zombi.json (%d bytes, want %d)", cm.Metadata.Name, len(cm.Data["zombi.json"]), len(dash))
	}
	if cm.Metadata.Labels["grafana_dashboard"] != "1" || cm.Metadata.Annotations["grafana_folder"] != "Zombi" {
		t.Errorf("ConfigMap labels %v annotations %v: want grafana_dashboard=1 for the sidecar", cm.Metadata.Labels, cm.Metadata.Annotations)
	}

	// The PrometheusRule holds the rules file's groups, unchanged.
	pr := r.one(t, "PrometheusRule")
	var want struct {
		Groups any `yaml:"groups"`
	}
	readYAML(t, repoPath("deploy", "prometheus", "zombi.rules.yml"), &want)
	gotY, _ := yaml.Marshal(pr.Spec["groups"])
	wantY, _ := yaml.Marshal(want.Groups)
	if !bytes.Equal(gotY, wantY) {
		t.Errorf("PrometheusRule groups differ from deploy/prometheus/zombi.rules.yml:\n%s\nwant\n%s", gotY, wantY)
	}

	// job="zombi" as the alerts expect: the ServiceMonitor takes the job
	// from a Service label whose value is zombi.
	sm := r.one(t, "ServiceMonitor")
	jobLabel, _ := sm.Spec["jobLabel"].(string)
	_, ps, _ := statefulSet(t, r)
	for name, svc := range r["Service"] {
		if name != ps.ServiceName && svc.Metadata.Labels[jobLabel] != "zombi" {
			t.Errorf("ServiceMonitor jobLabel %q: Service %s has %q there, want zombi (the rules' job)", jobLabel, name, svc.Metadata.Labels[jobLabel])
		}
	}
}
