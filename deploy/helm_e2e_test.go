package deploy

import (
	"context"
	"encoding/base64"
	"net/http"
	"path/filepath"
	"strconv"
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
// sent to the pod's stable DNS name, and the probe paths answer 200. The
// second case has a SASL listener of its own (config), so the advertised
// listeners the chart derives must match its protocol.
func TestHelmEnvStartsZombi(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	type helmCase struct {
		name     string
		set      []string
		metadata bool // ask Metadata over PLAINTEXT
	}
	cases := []helmCase{
		{"defaults", nil, true},
		{"sasl listener", []string{"config.ZOMBI_KAFKA_LISTENERS=SASL_PLAINTEXT://0.0.0.0:{ZOMBI_KAFKA_PORT}",
			"config.ZOMBI_BOOTSTRAP_USERS=admin:admin-secret", "config.ZOMBI_SUPERUSERS=admin"}, false},
	}
	// The S3 keys reach Zombi through the chart's Secret: ready (cold tier
	// loaded) only if they work.
	if s3 := startS3(t); s3 != "" {
		cases = append(cases, helmCase{"s3 keys from the secret", []string{"s3.bucket=chart", "s3.endpoint=http://" + s3,
			"s3.credentials.accessKeyId=testkey", "s3.credentials.secretAccessKey=testsecret123"}, true})
	} else {
		t.Log("versitygw not found: the S3 case is not run")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := helmTemplate(t, tc.set...)
			_, ps, c := statefulSet(t, r)
			kafkaPort, err := zombitest.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			defined := map[string]string{"POD_NAME": "t-zombi-0", "POD_NAMESPACE": "ns", "ZOMBI_KAFKA_PORT": strconv.Itoa(kafkaPort)}
			var env []string
			for _, e := range c.Env {
				switch e.Name {
				case "ZOMBI_HOST", "ZOMBI_PORT", "ZOMBI_KAFKA_PORT", "ZOMBI_DATA_DIR", "POD_NAME", "POD_NAMESPACE":
					continue // the harness's free loopback ports and temp dir
				}
				var v string
				switch {
				case e.Value != nil:
					v = expandK8s(*e.Value, defined)
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil: // as the kubelet does
					ref := e.ValueFrom.SecretKeyRef
					sec, ok := r["Secret"][ref.Name]
					if !ok {
						t.Fatalf("env %s from Secret %s, which the chart does not render", e.Name, ref.Name)
					}
					b, err := base64.StdEncoding.DecodeString(sec.Data[ref.Key])
					if err != nil || len(b) == 0 {
						t.Fatalf("Secret %s key %s: %q %v", ref.Name, ref.Key, sec.Data[ref.Key], err)
					}
					v = string(b)
				default:
					t.Fatalf("env %s: neither a value nor a Secret key", e.Name)
				}
				if e.Name == "ZOMBI_KAFKA_LISTENERS" { // on loopback and a free port here
					v = strings.ReplaceAll(strings.ReplaceAll(v, "0.0.0.0", "127.0.0.1"), "{ZOMBI_KAFKA_PORT}", strconv.Itoa(kafkaPort))
				}
				defined[e.Name] = v
				env = append(env, e.Name+"="+v)
			}
			p := zombitest.StartT(t, filepath.Join(t.TempDir(), "data"), env...)

			if tc.metadata {
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
			}

			// The probes: the admin REST routes GET /health/live and /health/ready
			// (ready may take a moment with a bucket: the cold tier loads).
			for _, pr := range []*probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
				if pr == nil || pr.HTTPGet == nil {
					continue
				}
				var status string
				for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
					resp, err := http.Get(p.HTTPBase + pr.HTTPGet.Path)
					if err != nil {
						t.Fatalf("GET %s: %v", pr.HTTPGet.Path, err)
					}
					resp.Body.Close()
					status = resp.Status
					if resp.StatusCode == http.StatusOK || time.Now().After(deadline) {
						break
					}
				}
				if status != "200 OK" {
					t.Errorf("probe GET %s: %s after 20s, want 200 without credentials (the admin REST contract's /health/live and /health/ready)", pr.HTTPGet.Path, status)
				}
			}
		})
	}
}
