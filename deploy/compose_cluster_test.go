package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestComposeClusterProfile: the cluster profile's etcd and three nodes fit
// together without an engine: a pinned etcd v3.5 that advertises the
// endpoint the nodes use, node ids 1..3, each node advertising a name and
// port that resolve inside the network and are published as is on the host,
// one shared bucket on the minio service (created by createbucket before
// the nodes start), and no host port that another service of any profile
// publishes too.
func TestComposeClusterProfile(t *testing.T) {
	c := loadCompose(t)
	etcd, ok := c.Services["etcd"]
	if !ok {
		t.Fatalf("no etcd service")
	}
	if !slices.Equal(etcd.Profiles, []string{"cluster"}) {
		t.Errorf("etcd profiles %v, want [cluster]", etcd.Profiles)
	}
	if !regexp.MustCompile(`^(quay\.io/coreos|gcr\.io/etcd-development)/etcd:v3\.5\.\d+$`).MatchString(etcd.Image) {
		t.Errorf("etcd image %q: want the official image pinned to a v3.5.x tag", etcd.Image)
	}
	args, _ := etcd.Command.([]any)
	flags := map[string]string{}
	for _, a := range args {
		if k, v, ok := strings.Cut(fmt.Sprint(a), "="); ok {
			flags[k] = v
		}
	}
	if flags["--advertise-client-urls"] != "http://etcd:2379" || !strings.Contains(flags["--listen-client-urls"], ":2379") {
		t.Errorf("etcd must listen on 2379 and advertise http://etcd:2379 (command %v)", etcd.Command)
	}
	if len(etcd.Volumes) != 1 {
		t.Errorf("etcd volumes %v, want one for its data", etcd.Volumes)
	} else if src, dst, _ := strings.Cut(etcd.Volumes[0], ":"); !hasKey(c.Volumes, src) || flags["--data-dir"] != dst {
		t.Errorf("etcd's data dir %q is not its declared volume (%v)", flags["--data-dir"], etcd.Volumes)
	}

	if cb, ok := c.Services["createbucket"]; !ok || !strings.Contains(fmt.Sprint(cb.Entrypoint), "local/zombi-cluster") {
		t.Errorf("createbucket does not create the cluster's bucket zombi-cluster")
	}

	hostPorts := map[string]string{} // host port -> service
	for name, s := range c.Services {
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) < 2 {
				continue
			}
			hp := parts[len(parts)-2]
			if other, dup := hostPorts[hp]; dup {
				t.Errorf("host port %s published by both %s and %s", hp, other, name)
			}
			hostPorts[hp] = name
		}
	}

	for n := 1; n <= 3; n++ {
		name := fmt.Sprintf("zombi-%d", n)
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no %s service", name)
			continue
		}
		env := s.Environment
		if !slices.Equal(s.Profiles, []string{"cluster"}) {
			t.Errorf("%s profiles %v, want [cluster]", name, s.Profiles)
		}
		if s.Build == nil {
			t.Errorf("%s is not built from the Dockerfile", name)
		}
		if env["ZOMBI_ETCD_ENDPOINTS"] != "http://etcd:2379" {
			t.Errorf("%s ZOMBI_ETCD_ENDPOINTS %q, want http://etcd:2379", name, env["ZOMBI_ETCD_ENDPOINTS"])
		}
		if env["ZOMBI_NODE_ID"] != fmt.Sprint(n) {
			t.Errorf("%s ZOMBI_NODE_ID %q, want %d", name, env["ZOMBI_NODE_ID"], n)
		}
		if env["ZOMBI_S3_BUCKET"] != "zombi-cluster" || env["ZOMBI_S3_ENDPOINT"] != "http://minio:9000" {
			t.Errorf("%s: bucket %q at %q, want the shared zombi-cluster at http://minio:9000", name, env["ZOMBI_S3_BUCKET"], env["ZOMBI_S3_ENDPOINT"])
		}
		if env["AWS_ACCESS_KEY_ID"] == "" || env["AWS_SECRET_ACCESS_KEY"] == "" {
			t.Errorf("%s has no S3 credentials", name)
		}
		if dep, _ := s.DependsOn.(map[string]any); dep == nil || dep["etcd"] == nil || dep["createbucket"] == nil {
			t.Errorf("%s does not depend on etcd and createbucket (depends_on %v)", name, s.DependsOn)
		}
		// Advertised as the service name on a port published unchanged:
		// the same address works inside the network and, with the name in
		// /etc/hosts, from the host.
		if env["ZOMBI_KAFKA_ADVERTISED_HOST"] != name {
			t.Errorf("%s ZOMBI_KAFKA_ADVERTISED_HOST %q, want its service name", name, env["ZOMBI_KAFKA_ADVERTISED_HOST"])
		}
		kp := env["ZOMBI_KAFKA_PORT"]
		if kp == "" || !slices.Contains(s.Ports, kp+":"+kp) {
			t.Errorf("%s: Kafka port %q must be published on the same host port (ports %v)", name, kp, s.Ports)
		}
		if containerPort(t, s, "8080") == "" {
			continue
		}
		if len(s.Volumes) != 1 || !strings.HasSuffix(s.Volumes[0], ":/var/lib/zombi") {
			t.Errorf("%s volumes %v, want one volume on /var/lib/zombi", name, s.Volumes)
		} else if !hasKey(c.Volumes, strings.Split(s.Volumes[0], ":")[0]) {
			t.Errorf("%s volume %s is not declared", name, s.Volumes[0])
		}
	}
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}
