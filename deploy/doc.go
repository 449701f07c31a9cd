// Package deploy holds no code: its tests check what is beside it, the
// Grafana dashboard (grafana/), the Prometheus configuration (prometheus/),
// the Helm chart (helm/zombi), and the repository's Dockerfile and
// docker-compose.yml. The tests parse them, render the chart with helm
// (scripts/ensure-helm.sh), and run the real binary to check that every
// metric the dashboard and the rules query exists in a real scrape.
package deploy
