package txn

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zombi-dev/zombi/metrics"
)

// endedTotal counts ended transactions by how they ended; the state gauge
// (zombi_transactions) is collected at scrape time by the Kafka server.
var endedTotal = metrics.Factory.NewCounterVec(prometheus.CounterOpts{
	Name: "zombi_transactions_ended_total",
	Help: "Transactions ended, by result: commit and abort (EndTxn), timeout (aborted after transaction.timeout.ms), fenced (aborted by a new producer of the same transactional id), recovered (open in a partition at start with no transaction to end it: aborted).",
}, []string{"result"})

var (
	endedCommit    = endedTotal.WithLabelValues("commit")
	endedAbort     = endedTotal.WithLabelValues("abort")
	endedTimeout   = endedTotal.WithLabelValues("timeout")
	endedFenced    = endedTotal.WithLabelValues("fenced")
	endedRecovered = endedTotal.WithLabelValues("recovered")
)

// States lists the states of a transactional id, for a gauge by state.
func States() []State {
	return []State{Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort}
}
