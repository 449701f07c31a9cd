package deploy

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/internal/zombitest"
)

// expandK8s expands $(NAME) from earlier entries as Kubernetes does.
func expandK8s(v string, defined map[string]string) string {
	for name, val := range defined {
		v = strings.ReplaceAll(v, "$("+name+")", val)
	}
	return v
}

// TestHelmEnvStartsZombi runs the real binary with the environment the
// chart gives the container (listen addresses, ports and the data directory
// left to the test harness): the settings are accepted, Kafka clients are
// sent to the pod's stable DNS name, and the probe paths answer 200.
func TestHelmEnvStartsZombi(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	r, _ := helmTemplate(t)
	_, ps, c := statefulSet(t, r)
	defined := map[string]string{"POD_NAME": "t-zombi-0", "POD_NAMESPACE": "ns"}
	var env []string
	for _, e := range c.Env {
		switch e.Name {
		case "ZOMBI_HOST", "ZOMBI_PORT", "ZOMBI_KAFKA_PORT", "ZOMBI_DATA_DIR", "POD_NAME", "POD_NAMESPACE":
			continue // the harness's free loopback ports and temp dir
		}
		if e.Value == nil {
			t.Fatalf("env %s has no plain value with default values", e.Name)
		}
		v := expandK8s(*e.Value, defined)
		defined[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	p := zombitest.StartT(t, filepath.Join(t.TempDir(), "data"), env...)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seeds := cl.SeedBrokers()
	if len(seeds) != 1 {
		t.Fatalf("%d seed brokers", len(seeds))
	}
	resp, err := seeds[0].Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	md := resp.(*kmsg.MetadataResponse)
	wantHost := "t-zombi-0." + ps.ServiceName + ".ns.svc.cluster.local"
	if len(md.Brokers) != 1 || md.Brokers[0].Host != wantHost || md.Brokers[0].Port != 9092 {
		t.Fatalf("Metadata brokers %+v, want %s:9092", md.Brokers, wantHost)
	}

	// The probes: the admin REST routes GET /health/live and /health/ready.
	for _, pr := range []*probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			continue
		}
		resp, err := http.Get(p.HTTPBase + pr.HTTPGet.Path)
		if err != nil {
			t.Fatalf("GET %s: %v", pr.HTTPGet.Path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("probe GET %s: %s, want 200 (the admin REST contract's /health/live and /health/ready)", pr.HTTPGet.Path, resp.Status)
		}
	}
}
