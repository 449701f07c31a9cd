// Command kubecheck reads Kubernetes manifests (multi-document YAML, e.g.
// helm template's output) on stdin and decodes each into its Go type from
// k8s.io/api, strictly: an unknown or misspelt field, or a value of the
// wrong type, is an error, as the API server's strict field validation
// would report it. Kinds it does not know (custom resources) are listed as
// skipped. Exit status 1 when any document fails.
//
// It is a module of its own so that the Kubernetes types stay out of
// Zombi's go.mod; deploy's tests run it.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// kinds maps apiVersion/kind to a new empty object of that type.
var kinds = map[string]func() any{
	"apps/v1/StatefulSet": func() any { return &appsv1.StatefulSet{} },
	"apps/v1/Deployment":  func() any { return &appsv1.Deployment{} },
	"v1/Service":          func() any { return &corev1.Service{} },
	"v1/Secret":           func() any { return &corev1.Secret{} },
	"v1/ConfigMap":        func() any { return &corev1.ConfigMap{} },
	"v1/ServiceAccount":   func() any { return &corev1.ServiceAccount{} },

	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },

	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

func main() {
	in, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubecheck:", err)
		os.Exit(2)
	}
	failed := false
	for i, doc := range splitDocs(in) {
		if err := check(doc); err != nil {
			fmt.Printf("document %d: %v\n", i+1, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

// splitDocs splits on "---" lines and drops documents with nothing but
// comments.
func splitDocs(in []byte) [][]byte {
	var docs [][]byte
	var cur []string
	flush := func() {
		body := strings.Join(cur, "\n")
		for _, l := range cur {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
				docs = append(docs, []byte(body))
				break
			}
		}
		cur = nil
	}
	for _, l := range strings.Split(string(in), "\n") {
		if strings.TrimRight(l, " ") == "---" {
			flush()
			continue
		}
		cur = append(cur, l)
	}
	flush()
	return docs
}

func check(doc []byte) error {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	id := meta.APIVersion + "/" + meta.Kind
	mk, ok := kinds[id]
	if !ok {
		fmt.Printf("skipped %s %s (type not known here)\n", id, meta.Metadata.Name)
		return nil
	}
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return fmt.Errorf("%s %s: %w", id, meta.Metadata.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(mk()); err != nil {
		return fmt.Errorf("%s %s: %w", id, meta.Metadata.Name, err)
	}
	fmt.Printf("ok %s %s\n", id, meta.Metadata.Name)
	return nil
}
