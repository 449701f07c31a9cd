package history

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// DoorLatency reads the two doors' request-duration histograms (the label
// names are the metrics contract of DESIGN.md):
// zombi_kafka_request_duration_seconds{api} (kafka.RequestDurations()), of
// which api="Produce" counts as produce and api="Fetch" as fetch, and
// zombi_http_request_duration_seconds{route,method,code}
// (httpapi.RequestDurations()), of which POST /tables/:table and POST
// /tables/:table/bulk are writes and GET /tables/:table is a read. Either
// may be nil.
func DoorLatency(kafkaDurations, httpDurations prometheus.Collector) Latency {
	return doorLatency{kafkaDurations, httpDurations}
}

type doorLatency struct{ kafka, http prometheus.Collector }

const (
	classNone = iota
	classProduce
	classFetch
)

func (d doorLatency) Latency() (produce, fetch Hist) {
	read := func(c prometheus.Collector, class func(*dto.Metric) int) {
		if c == nil {
			return
		}
		ch := make(chan prometheus.Metric, 64)
		go func() {
			c.Collect(ch)
			close(ch)
		}()
		var m dto.Metric
		for pm := range ch {
			m.Reset()
			if pm.Write(&m) != nil || m.Histogram == nil {
				continue
			}
			var dst *Hist
			switch class(&m) {
			case classProduce:
				dst = &produce
			case classFetch:
				dst = &fetch
			default:
				continue
			}
			dst.add(fromDTO(m.Histogram))
		}
	}
	read(d.kafka, func(m *dto.Metric) int {
		switch label(m, "api") {
		case "Produce":
			return classProduce
		case "Fetch":
			return classFetch
		}
		return classNone
	})
	read(d.http, func(m *dto.Metric) int {
		route, method := label(m, "route"), label(m, "method")
		switch {
		case method == "POST" && (route == "/tables/:table" || route == "/tables/:table/bulk"):
			return classProduce
		case method == "GET" && route == "/tables/:table":
			return classFetch
		}
		return classNone
	})
	return produce, fetch
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func fromDTO(h *dto.Histogram) Hist {
	out := Hist{Count: h.GetSampleCount()}
	for _, b := range h.GetBucket() {
		ub := b.GetUpperBound()
		if ub > 1e300 { // +Inf
			continue
		}
		out.Bounds = append(out.Bounds, ub)
		out.Cum = append(out.Cum, b.GetCumulativeCount())
	}
	return out
}
