package httpapi

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/zombi-dev/zombi/history"
	plog "github.com/zombi-dev/zombi/log"
)

// History is the console's in-memory history (*history.Sampler): the last
// 15 minutes of live numbers, per-topic records in, per-group lag.
type History interface {
	Interval() time.Duration
	SlowInterval() time.Duration
	Samples(sinceMS int64) []history.Sample
	Subscribe() (<-chan history.Sample, func())
	TopicRates(topic string) []float64
	LagHistory(group string) []history.LagSeries
	Live() history.Live
}

var _ History = (*history.Sampler)(nil)

// OverviewInfo is the static part of GET /overview.
type OverviewInfo struct {
	Version, Commit string
	HotMaxBytes     int64  // ZOMBI_HOT_MAX_BYTES, 0 = no limit
	Bucket          string // ZOMBI_S3_BUCKET, "" = no cold tier
}

var errHistoryOff = notFound("history is not enabled on this server")

// getOverview: GET /overview, the console's first page in one call.
func (s *server) getOverview(c *gin.Context) {
	type health struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	type hot struct {
		Bytes    int64 `json:"bytes"`
		MaxBytes int64 `json:"max_bytes"`
	}
	type cold struct {
		Enabled      bool   `json:"enabled"`
		Bucket       string `json:"bucket"`
		PendingBytes int64  `json:"pending_bytes"`
		S3Reachable  bool   `json:"s3_reachable"`
	}
	type conns struct {
		Kafka int `json:"kafka"`
		HTTP  int `json:"http"`
	}
	var v struct {
		Version      string  `json:"version"`
		Commit       string  `json:"commit"`
		GoVersion    string  `json:"go_version"`
		StartedMs    int64   `json:"started_ms"`
		UptimeSecs   float64 `json:"uptime_secs"`
		Health       health  `json:"health"`
		Ready        bool    `json:"ready"`
		Topics       int     `json:"topics"`
		Partitions   int64   `json:"partitions"`
		Groups       int     `json:"groups"`
		Hot          hot     `json:"hot"`
		Cold         cold    `json:"cold"`
		Connections  conns   `json:"connections"`
		Iceberg      bool    `json:"iceberg"`
		IcebergDflt  bool    `json:"iceberg_default"`
		AuthRequired bool    `json:"auth_required"`
	}
	info := s.cfg.Overview
	v.Version, v.Commit, v.GoVersion = info.Version, info.Commit, runtime.Version()
	v.UptimeSecs = s.stats.Snapshot().UptimeSecs
	v.StartedMs = time.Now().UnixMilli() - int64(v.UptimeSecs*1000)
	v.Health.Status = "healthy"
	if err := s.log.Healthy(); err != nil {
		v.Health = health{"unhealthy", err.Error()}
	} else {
		v.Ready = s.cfg.Ready == nil || s.cfg.Ready() == nil
	}
	for _, t := range s.log.Topics() {
		if plog.IsInternalTopic(t.Name) {
			continue // users' tables only, as GET /tables lists them
		}
		v.Topics++
		v.Partitions += int64(t.Partitions)
	}
	names, err := s.groupNames()
	if err != nil {
		s.fail(c, err)
		return
	}
	v.Groups = len(names)
	v.Hot.MaxBytes = info.HotMaxBytes
	v.Cold.Enabled, v.Cold.Bucket = info.Bucket != "", info.Bucket
	if s.cfg.History != nil {
		live := s.cfg.History.Live()
		v.Hot.Bytes = live.HotBytes
		v.Cold.PendingBytes, v.Cold.S3Reachable = live.ColdPendingBytes, live.S3Reachable
		v.Connections = conns{live.KafkaConnections, live.HTTPConnections}
	}
	v.Iceberg = s.cfg.Iceberg != nil
	v.IcebergDflt = v.Iceberg && s.log.TopicDefaults().IcebergDefault
	v.AuthRequired = s.cfg.RequireAuth
	writeValue(c, http.StatusOK, v)
}

// groupNames is every group GET /consumers lists: live in the coordinator
// or known by committed offsets.
func (s *server) groupNames() (map[string]bool, error) {
	names := map[string]bool{}
	if s.cfg.Groups != nil {
		for _, g := range s.cfg.Groups.List() {
			names[g.Group] = true
		}
	}
	stored, err := s.log.Groups()
	if err != nil {
		return nil, err
	}
	for _, g := range stored {
		names[g] = true
	}
	return names, nil
}

// getStatsHistory: GET /stats/history?since=MS, the samples of the last 15
// minutes (newer than since), oldest first.
func (s *server) getStatsHistory(c *gin.Context) {
	if s.cfg.History == nil {
		s.fail(c, errHistoryOff)
		return
	}
	since, _, err := queryInt(c, "since", 0, 1<<53)
	if err != nil {
		s.fail(c, err)
		return
	}
	samples := s.cfg.History.Samples(since)
	b := make([]byte, 0, 64+len(samples)*320)
	b = append(b, `{"interval_ms":`...)
	b = strconv.AppendInt(b, s.cfg.History.Interval().Milliseconds(), 10)
	b = append(b, `,"window_ms":`...)
	b = strconv.AppendInt(b, history.Window.Milliseconds(), 10)
	b = append(b, `,"samples":[`...)
	for i, smp := range samples {
		if i > 0 {
			b = append(b, ',')
		}
		b = smp.AppendJSON(b)
	}
	writeJSON(c, http.StatusOK, append(b, ']', '}', '\n'))
}

// streamPing is how often an idle stream sends a comment, so that proxies
// and the browser keep it open.
var streamPing = 15 * time.Second

// getStatsStream: GET /stats/stream, server-sent events: "sample" with each
// new sample, a ": ping" comment every streamPing, until the client goes.
// Each stream is one subscription to the sampler and one goroutine (the
// handler's): nothing runs for it once the client has gone.
func (s *server) getStatsStream(c *gin.Context) {
	if s.cfg.History == nil {
		s.fail(c, errHistoryOff)
		return
	}
	samples, cancel := s.cfg.History.Subscribe()
	defer cancel()
	w := c.Writer
	sw := newStreamWriter(w)
	defer sw.disarm()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// The first line at once, so that the client sees the stream open.
	sw.arm()
	if _, err := w.WriteString(": stream open\n\n"); err != nil {
		return
	}
	w.Flush()
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	ctx := c.Request.Context()
	buf := make([]byte, 0, 512)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.StreamsDone: // shutdown: do not hold it for the timeout
			return
		case <-ping.C:
			buf = append(buf[:0], ": ping\n\n"...)
		case smp, ok := <-samples:
			if !ok {
				return
			}
			buf = append(buf[:0], "event: sample\ndata: "...)
			buf = smp.AppendJSON(buf)
			buf = append(buf, '\n', '\n')
		}
		sw.arm()
		if _, err := w.Write(buf); err != nil {
			return
		}
		w.Flush()
	}
}
