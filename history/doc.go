// Package history keeps the last 15 minutes of Zombi's live numbers in
// memory for the web console: every 2 s one Sample (records and bytes per
// second in and out, produce and fetch latency p50/p99, connections, hot and
// cold-pending bytes), every 10 s each topic's records in (the topic list's
// sparklines) and each consumer group's lag per partition (the group page's
// lag chart).
//
// The Sampler only reads: running counters the log already keeps, the
// request-duration histograms, and small status functions. Its sources are
// the interfaces in sources.go, wired by cmd/zombi, so that the package sits
// below the front doors and imports neither. Nothing goes to disk: a restart
// starts an empty history. Watchers (the SSE stream) get each new Sample on
// their own buffered channel; a watcher that does not keep up misses
// samples, the sampler never waits for it.
package history
