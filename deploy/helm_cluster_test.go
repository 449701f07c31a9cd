package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/internal/etcdtest"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestHelmTemplateCluster: replicas 3 with etcd endpoints is a cluster: a
// StatefulSet of 3 whose pods take node id ordinal + 1 (the command run by
// a real sh), advertise their name under the headless Service, reach etcd
// from values (auth from a Secret), set no S3 bucket unless asked (then the
// shared one), and a
// PodDisruptionBudget of maxUnavailable 1 over exactly these pods.
func TestHelmTemplateCluster(t *testing.T) {
	r, _ := helmTemplate(t, "replicas=3", "cluster.etcdEndpoints={http://etcd-0.etcd:2379,http://etcd-1.etcd:2379}",
		"cluster.name=prod", "cluster.sessionTimeoutMs=2000", "cluster.auth.existingSecret=etcd-auth")
	_, ps, c := statefulSet(t, r)
	if ps.Replicas != 3 {
		t.Errorf("StatefulSet replicas %d, want 3", ps.Replicas)
	}
	env := c.env()
	for k, want := range map[string]string{
		"ZOMBI_ETCD_ENDPOINTS":     "http://etcd-0.etcd:2379,http://etcd-1.etcd:2379",
		"ZOMBI_CLUSTER_NAME":       "prod",
		"ZOMBI_SESSION_TIMEOUT_MS": "2000",
	} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	if _, ok := env["ZOMBI_S3_BUCKET"]; ok {
		t.Errorf("ZOMBI_S3_BUCKET set in cluster mode")
	}
	// With a bucket, every pod shares it (the cluster's cold tier).
	r3, _ := helmTemplate(t, "replicas=3", "cluster.etcdEndpoints={http://etcd-0.etcd:2379}", "s3.bucket=events")
	if _, _, c3 := statefulSet(t, r3); c3.env()["ZOMBI_S3_BUCKET"] != "events" {
		t.Errorf("cluster mode with s3.bucket=events: ZOMBI_S3_BUCKET=%q", c3.env()["ZOMBI_S3_BUCKET"])
	}
	if s, k := c.secretRef("ZOMBI_ETCD_PASSWORD"); s != "etcd-auth" || k != "password" {
		t.Errorf("ZOMBI_ETCD_PASSWORD from %s/%s, want etcd-auth/password", s, k)
	}
	if s, k := c.secretRef("ZOMBI_ETCD_USERNAME"); s != "etcd-auth" || k != "username" {
		t.Errorf("ZOMBI_ETCD_USERNAME from %s/%s, want etcd-auth/username", s, k)
	}

	// Per-pod addresses through the headless Service named by serviceName.
	hl, ok := r["Service"][ps.ServiceName]
	if !ok || hl.Spec["clusterIP"] != "None" {
		t.Fatalf("serviceName %q is not a headless Service (%v)", ps.ServiceName, r["Service"])
	}
	if want := "PLAINTEXT://$(POD_NAME)." + ps.ServiceName + ".$(POD_NAMESPACE).svc.cluster.local:9092"; env["ZOMBI_KAFKA_ADVERTISED_LISTENERS"] != want {
		t.Errorf("advertised listeners %q, want %q", env["ZOMBI_KAFKA_ADVERTISED_LISTENERS"], want)
	}

	// The node id: the rendered command, as the kubelet expands it ($$ is
	// a literal $) and a real sh runs it, with the image's entrypoint
	// swapped for env.
	cmd := podCommand(t, r)
	const entry = "exec /usr/local/bin/zombi"
	if len(cmd) != 3 || cmd[0] != "/bin/sh" || cmd[1] != "-c" || !strings.HasSuffix(cmd[2], entry) {
		t.Fatalf("command %q, want [/bin/sh -c ...%s]", cmd, entry)
	}
	if df, err := os.ReadFile(repoPath("Dockerfile")); err != nil || !strings.Contains(string(df), `ENTRYPOINT ["/usr/local/bin/zombi"]`) {
		t.Errorf("the Dockerfile's entrypoint is no longer /usr/local/bin/zombi, the command's exec target (%v)", err)
	}
	script := strings.TrimSuffix(strings.ReplaceAll(cmd[2], "$$", "$"), entry) + "exec env"
	for pod, want := range map[string]string{"t-zombi-0": "1", "t-zombi-1": "2", "t-zombi-2": "3", "my-zombi-cluster-12": "13"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sh := exec.CommandContext(ctx, "/bin/sh", "-c", script)
		sh.Env = []string{"POD_NAME=" + pod, "PATH=/usr/bin:/bin"}
		out, err := sh.Output()
		cancel()
		if err != nil {
			t.Fatalf("pod %s: sh -c %q: %v", pod, script, err)
		}
		if !slices.Contains(strings.Split(string(out), "\n"), "ZOMBI_NODE_ID="+want) {
			t.Errorf("pod %s: node id not %s:\n%s", pod, want, out)
		}
	}

	pdb := r.one(t, "PodDisruptionBudget")
	if mu, _ := pdb.Spec["maxUnavailable"].(uint64); mu != 1 {
		t.Errorf("PodDisruptionBudget maxUnavailable %v, want 1", pdb.Spec["maxUnavailable"])
	}
	sel, _ := pdb.Spec["selector"].(map[string]any)
	ml, _ := sel["matchLabels"].(map[string]any)
	if len(ml) != len(ps.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget selector %v, want the StatefulSet's %v", ml, ps.Selector.MatchLabels)
	}
	for k, v := range ps.Selector.MatchLabels {
		if ml[k] != v {
			t.Errorf("PodDisruptionBudget selector %v, want the StatefulSet's %v", ml, ps.Selector.MatchLabels)
			break
		}
	}
}

// TestHelmTemplateSingleNodeUnchanged: the defaults stay one broker alone:
// one replica, no etcd, no command over the image's entrypoint, no
// PodDisruptionBudget.
func TestHelmTemplateSingleNodeUnchanged(t *testing.T) {
	r, _ := helmTemplate(t)
	_, ps, c := statefulSet(t, r)
	if ps.Replicas != 1 {
		t.Errorf("replicas %d, want 1", ps.Replicas)
	}
	if _, ok := c.env()["ZOMBI_ETCD_ENDPOINTS"]; ok {
		t.Errorf("ZOMBI_ETCD_ENDPOINTS set by default")
	}
	if cmd := podCommand(t, r); cmd != nil {
		t.Errorf("command %q by default, want the image's entrypoint", cmd)
	}
	if len(r["PodDisruptionBudget"]) != 0 {
		t.Errorf("a PodDisruptionBudget for one broker")
	}
}

// TestHelmTemplateRefusesBadClusterValues: values Zombi would refuse at
// start fail the template with a line that names the fix.
func TestHelmTemplateRefusesBadClusterValues(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"replicas=3"}, "replicas: 3 needs cluster.etcdEndpoints"},
		{[]string{"cluster.etcdEndpoints={http://etcd:2379}", "config.ZOMBI_NODE_ID=5"}, "node id is its ordinal + 1"},
		{[]string{"cluster.etcdEndpoints={etcd:2379}"}, "etcdEndpoints"},
		{[]string{"replicas=0"}, "replicas"},
	} {
		args := []string{"template", "t", chartDir}
		for _, s := range tc.set {
			args = append(args, "--set", s)
		}
		_, err := runHelm(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %v: %v, want a refusal naming %q", tc.set, err, tc.want)
		}
	}
}

// podCommand is the StatefulSet container's command (nil when unset).
func podCommand(t *testing.T, r rendered) []string {
	t.Helper()
	b, err := yaml.Marshal(r.one(t, "StatefulSet").Spec)
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Command []string `yaml:"command"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil || len(spec.Template.Spec.Containers) != 1 {
		t.Fatalf("StatefulSet containers: %v", err)
	}
	return spec.Template.Spec.Containers[0].Command
}

// TestHelmClusterEnvStartsZombi: three real zombi processes with the
// environment the chart gives pods t-zombi-0..2 (replicas=3, a real etcd;
// ports and data dirs left to the harness) and the node id the pod's
// command derives, join one cluster: Metadata on any of them lists brokers
// 1, 2 and 3 at their pods' stable DNS names.
func TestHelmClusterEnvStartsZombi(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and three zombi processes")
	}
	if etcdtest.Binary() == "" {
		t.Skip("no etcd")
	}
	e := etcdtest.Start(t)
	r, _ := helmTemplate(t, "replicas=3", "cluster.etcdEndpoints={"+e.Endpoint+"}",
		"cluster.name=helm-"+strconv.FormatInt(time.Now().UnixNano(), 36), "cluster.sessionTimeoutMs=2000")
	_, ps, c := statefulSet(t, r)
	script := strings.ReplaceAll(podCommand(t, r)[2], "$$", "$")
	script = strings.TrimSuffix(script, "exec /usr/local/bin/zombi") + "exec env"

	var procs []*zombitest.Proc
	for ord := 0; ord < 3; ord++ {
		pod := "t-zombi-" + strconv.Itoa(ord)
		defined := map[string]string{"POD_NAME": pod, "POD_NAMESPACE": "ns"}
		var env []string
		for _, ev := range c.Env {
			switch ev.Name {
			case "ZOMBI_HOST", "ZOMBI_PORT", "ZOMBI_KAFKA_PORT", "ZOMBI_DATA_DIR", "POD_NAME", "POD_NAMESPACE":
				continue // the harness's free loopback ports and temp dir
			}
			if ev.Value == nil {
				t.Fatalf("env %s: not a plain value in this value set", ev.Name)
			}
			v := expandK8s(*ev.Value, defined)
			defined[ev.Name] = v
			env = append(env, ev.Name+"="+v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sh := exec.CommandContext(ctx, "/bin/sh", "-c", script)
		sh.Env = []string{"POD_NAME=" + pod, "PATH=/usr/bin:/bin"}
		out, err := sh.Output()
		cancel()
		if err != nil {
			t.Fatalf("pod %s: the node id command: %v", pod, err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "ZOMBI_NODE_ID=") {
				env = append(env, l)
			}
		}
		procs = append(procs, zombitest.StartT(t, filepath.Join(t.TempDir(), "data"), env...))
	}

	want := map[int32]string{}
	for ord := 0; ord < 3; ord++ {
		want[int32(ord+1)] = "t-zombi-" + strconv.Itoa(ord) + "." + ps.ServiceName + ".ns.svc.cluster.local"
	}
	for _, p := range procs {
		var got map[int32]string
		deadline := time.Now().Add(20 * time.Second)
		for {
			got = metadataBrokers(t, p.KafkaAddr)
			if len(got) == 3 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		for id, host := range want {
			if got[id] != host+":9092" {
				t.Errorf("Metadata on %s: brokers %v, want node %d at %s:9092\n%s", p.KafkaAddr, got, id, host, p.Log())
				break
			}
		}
	}
}

// metadataBrokers asks one node for Metadata: node id -> host:port (nil on error).
func metadataBrokers(t *testing.T, addr string) map[int32]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		return nil
	}
	out := map[int32]string{}
	for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
		out[b.NodeID] = b.Host + ":" + strconv.Itoa(int(b.Port))
	}
	return out
}
