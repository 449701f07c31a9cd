package history

import (
	"math"
	"strconv"
)

// Sample is one point of the overview's charts: rates over the interval
// before T, latencies from the requests that ended in it (NaN: none), and
// the gauges read at T.
type Sample struct {
	T                int64 // Unix ms
	RecordsIn        float64
	BytesIn          float64
	RecordsOut       float64
	BytesOut         float64
	ProduceP50       float64 // ms, NaN = no request
	ProduceP99       float64
	FetchP50         float64
	FetchP99         float64
	Connections      int // Kafka and REST
	HotBytes         int64
	ColdPendingBytes int64
}

// AppendJSON appends the Sample as the JSON object of the REST API
// (httpapi/README.md "Console routes"): NaN latencies are null, rates are
// rounded to 3 decimals.
func (s Sample) AppendJSON(b []byte) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, s.T, 10)
	num := func(name string, v float64) {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			return
		}
		b = strconv.AppendFloat(b, math.Round(v*1000)/1000, 'f', -1, 64)
	}
	num("records_in", s.RecordsIn)
	num("bytes_in", s.BytesIn)
	num("records_out", s.RecordsOut)
	num("bytes_out", s.BytesOut)
	num("produce_p50_ms", s.ProduceP50)
	num("produce_p99_ms", s.ProduceP99)
	num("fetch_p50_ms", s.FetchP50)
	num("fetch_p99_ms", s.FetchP99)
	b = append(b, `,"connections":`...)
	b = strconv.AppendInt(b, int64(s.Connections), 10)
	b = append(b, `,"hot_bytes":`...)
	b = strconv.AppendInt(b, s.HotBytes, 10)
	b = append(b, `,"cold_pending_bytes":`...)
	b = strconv.AppendInt(b, s.ColdPendingBytes, 10)
	return append(b, '}')
}

// MarshalJSON is AppendJSON.
func (s Sample) MarshalJSON() ([]byte, error) { return s.AppendJSON(nil), nil }
