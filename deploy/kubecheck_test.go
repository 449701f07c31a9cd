package deploy

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHelmManifestsStrict decodes every manifest helm template renders into
// its Kubernetes Go type (k8s.io/api, the Prometheus Operator's
// ServiceMonitor) with unknown fields refused: a misspelt or misplaced field,
// or a wrong type, fails here as the API server's strict validation would
// refuse it. The decoder is deploy/kubecheck, a module of its own.
func TestHelmManifestsStrict(t *testing.T) {
	if testing.Short() {
		t.Skip("builds deploy/kubecheck (the Kubernetes API types)")
	}
	bin := filepath.Join(t.TempDir(), "kubecheck")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = repoPath("deploy", "kubecheck")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build deploy/kubecheck: %v\n%s", err, out)
	}
	for _, set := range [][]string{
		nil,
		{"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.scheme=https", "metrics.serviceMonitor.tlsConfig.serverName=zombi",
			"metrics.serviceMonitor.basicAuth.username.name=s", "metrics.serviceMonitor.basicAuth.username.key=u",
			"s3.bucket=events", "s3.credentials.accessKeyId=AK", "s3.credentials.secretAccessKey=SK",
			"podAnnotations.a=b", "extraEnv[0].name=X", "extraEnv[0].value=y", "extraEnvFrom[0].secretRef.name=more",
			"metrics.prometheusRule.enabled=true", "metrics.grafanaDashboard.enabled=true"},
		{"persistence.enabled=false", "s3.bucket=events", "s3.credentials.existingSecret=mine", "serviceAccount.create=false",
			"nodeSelector.disk=ssd", "tolerations[0].key=k", "tolerations[0].operator=Exists", "service.type=LoadBalancer"},
		{"replicas=3", "cluster.etcdEndpoints={http://etcd:2379}", "cluster.sessionTimeoutMs=2000", "cluster.auth.existingSecret=etcd-auth"},
	} {
		_, out := helmTemplate(t, set...)
		c := exec.CommandContext(ctx, bin)
		c.Stdin = strings.NewReader(out)
		var stdout bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stdout
		if err := c.Run(); err != nil {
			t.Errorf("--set %v: %v\n%s", set, err, stdout.String())
			continue
		}
		if strings.Contains(stdout.String(), "skipped") || !strings.Contains(stdout.String(), "ok apps/v1/StatefulSet") {
			t.Errorf("--set %v: kubecheck did not check everything:\n%s", set, stdout.String())
		}
	}
}
