// Package promcheck has no code: its test evaluates PromQL queries (the
// dashboard's and the rules') with Prometheus' own engine over series loaded
// from real scrapes, and parses the rules file with Prometheus' rule loader.
// deploy's TestDashboardQueriesEvaluate writes the input and runs it; on its
// own the test skips.
//
// It is a module of its own so that Prometheus' server packages stay out of
// Zombi's go.mod.
package promcheck
