package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// Writes in cluster mode: each record goes to its partition's leader. The
// records this node leads are appended here and answered once the high
// watermark passed them (acks=all); the others go to their leader's REST API
// as one request per leader on the internal route forwardPath, which
// appends only what its node leads and never forwards again (a stale view
// answers "leader moved, retry"). A record refused before it was appended
// (no leader, leader moved, the fence) is routed again for up to
// routeRetryFor, re-reading the leader: what a Kafka producer does with
// NOT_LEADER_OR_FOLLOWER. A record appended but not acknowledged is never
// sent again (no duplicate): its error goes to the client.

const (
	forwardPath = "/cluster/forward/tables/:table"
	// forwardedHeader marks a forwarded request (its value: the sender's
	// node id); the internal route refuses requests without it.
	forwardedHeader = "X-Zombi-Forwarded-By"
	// ForwardTimeout bounds one forwarded request (and the request's own
	// context bounds it too).
	ForwardTimeout = 10 * time.Second
	// tableWaitFor bounds how long the leader waits for a table its
	// catalog has not delivered yet (created on another node a moment ago).
	tableWaitFor = 3 * time.Second
)

// routeRetryFor bounds how long records refused before their append
// (leader unknown or moved) are routed again (a variable for tests).
var routeRetryFor = 5 * time.Second

// wres is one record's outcome.
type wres struct {
	offset int64
	part   int32
	err    error
}

// fwdRecord is a forwarded record: raw bytes (base64 in JSON), the
// partition chosen by the first node and its arrival timestamp.
type fwdRecord struct {
	P  int32       `json:"p"`
	V  []byte      `json:"v"`
	K  []byte      `json:"k"` // null: no key; "": an empty key
	H  []fwdHeader `json:"h,omitempty"`
	TS int64       `json:"ts"`
	ID string      `json:"id,omitempty"`
}

type fwdHeader struct {
	K string `json:"k"`
	V []byte `json:"v"`
}

// fwdResult is one record's outcome on the leader.
type fwdResult struct {
	Offset    int64  `json:"offset"`
	Partition int32  `json:"partition"`
	Error     string `json:"error,omitempty"`
	Status    int    `json:"status,omitempty"`
	Retry     bool   `json:"retry,omitempty"` // refused before the append: route again
}

// retriable: refused before anything was appended, so routing it again
// cannot duplicate it.
func retriable(err error) bool {
	return errors.Is(err, plog.ErrNotLeader) || errors.Is(err, errLeaderMoved) || errors.Is(err, errLeaderUnavailable)
}

// routeWrites appends evs (partitions chosen, timestamps set) where their
// partitions are led, acks=all, and returns each record's outcome in order.
func (s *server) routeWrites(c *gin.Context, table string, evs []*event, parts []int32) []wres {
	cl := s.cfg.Cluster
	ctx := c.Request.Context()
	out := make([]wres, len(evs))
	pending := make([]int, len(evs))
	for i := range pending {
		pending[i] = i
	}
	deadline := time.Now().Add(routeRetryFor)
	backoff := 25 * time.Millisecond
	for {
		var retry []int
		groups := map[int32][]int{}
		urls := map[int32]string{}
		for _, i := range pending {
			leader, base, ok := cl.Leader(table, parts[i])
			if !ok || leader < 0 || (leader != cl.LocalID() && base == "") {
				out[i] = wres{err: fmt.Errorf("%s/%d: %w", table, parts[i], errLeaderUnavailable)}
				retry = append(retry, i)
				continue
			}
			groups[leader] = append(groups[leader], i)
			urls[leader] = base
		}
		var wg sync.WaitGroup
		for leader, idx := range groups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sub := make([]*event, len(idx))
				subParts := make([]int32, len(idx))
				for j, i := range idx {
					sub[j], subParts[j] = evs[i], parts[i]
				}
				var rs []wres
				if leader == cl.LocalID() {
					rs = s.appendLocal(ctx, table, sub, subParts)
				} else {
					rs = s.forward(ctx, c.Request, urls[leader], table, sub, subParts)
				}
				for j, i := range idx {
					out[i] = rs[j]
				}
			}()
		}
		wg.Wait()
		for _, idx := range groups {
			for _, i := range idx {
				if out[i].err != nil && retriable(out[i].err) {
					retry = append(retry, i)
				}
			}
		}
		if len(retry) == 0 || time.Now().Add(backoff).After(deadline) {
			return out
		}
		select {
		case <-ctx.Done():
			return out
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 400*time.Millisecond)
		pending = retry
	}
}

// appendLocal appends records to partitions this node leads (one Append,
// one fsync) and waits for the in-sync replicas to have them.
func (s *server) appendLocal(ctx context.Context, table string, evs []*event, parts []int32) []wres {
	cl := s.cfg.Cluster
	out := make([]wres, len(evs))
	// Refused before appending: not the leader (retriable), fewer in-sync
	// replicas than min.insync.replicas (Kafka's NOT_ENOUGH_REPLICAS).
	checked := map[int32]error{}
	type loc struct{ req, pos int }
	where := make([]loc, len(evs))
	var reqs []plog.AppendRequest
	var groups [][]*event
	byPart := map[int32]int{}
	for i, ev := range evs {
		p := parts[i]
		err, seen := checked[p]
		if !seen {
			err = cl.CheckWrite(table, p)
			checked[p] = err
		}
		if err != nil {
			out[i] = wres{err: fmt.Errorf("%s/%d: %w", table, p, err)}
			where[i] = loc{-1, 0}
			continue
		}
		if ev.idemKey != "" { // the log dedupes per batch
			where[i] = loc{len(reqs), 0}
			reqs = append(reqs, plog.AppendRequest{Topic: table, Partition: p, IdempotencyKey: ev.idemKey})
			groups = append(groups, []*event{ev})
			continue
		}
		ri, ok := byPart[p]
		if !ok {
			ri = len(reqs)
			byPart[p] = ri
			reqs = append(reqs, plog.AppendRequest{Topic: table, Partition: p})
			groups = append(groups, nil)
		}
		where[i] = loc{ri, len(groups[ri])}
		groups[ri] = append(groups[ri], ev)
	}
	if len(reqs) == 0 {
		return out
	}
	var res []plog.AppendResult
	if len(evs) == 1 && s.co != nil {
		// A single write joins the concurrent ones' group commit, as alone.
		res = []plog.AppendResult{s.co.write(table, parts[0], evs[0])}
	} else {
		for i := range reqs {
			reqs[i].Batch = buildBatch(groups[i], 0)
		}
		res = s.log.Append(ctx, reqs)
	}
	for i := range res {
		if res[i].Err != nil {
			res[i].Err = fmt.Errorf("append to %s/%d: %w", table, reqs[i].Partition, res[i].Err)
			continue
		}
		last := res[i].BaseOffset + int64(len(groups[i])) - 1
		if err := cl.AwaitReplicated(ctx, table, res[i].Partition, last); err != nil {
			// Appended: never routed again (it would be written twice).
			res[i].Err = fmt.Errorf("%s/%d: appended at offset %d but not acknowledged by the in-sync replicas (%v): %w",
				table, res[i].Partition, res[i].BaseOffset, err, ErrNotEnoughReplicas)
		}
	}
	for i, w := range where {
		if w.req < 0 {
			continue
		}
		r := res[w.req]
		out[i] = wres{offset: r.BaseOffset + int64(w.pos), part: r.Partition, err: r.Err}
	}
	return out
}

// forward sends records to their leader's REST API (base) and returns
// their outcomes. The client's Authorization goes along: the leader checks
// the same ACLs.
func (s *server) forward(ctx context.Context, from *http.Request, base, table string, evs []*event, parts []int32) []wres {
	fail := func(err error) []wres {
		out := make([]wres, len(evs))
		for i := range out {
			out[i] = wres{err: err}
		}
		return out
	}
	recs := make([]fwdRecord, len(evs))
	for i, ev := range evs {
		r := fwdRecord{P: parts[i], V: ev.value, K: ev.key, TS: ev.ts, ID: ev.idemKey}
		if r.V == nil {
			r.V = []byte{}
		}
		for _, h := range ev.headers {
			r.H = append(r.H, fwdHeader{K: h.Key, V: h.Value})
		}
		recs[i] = r
	}
	body, err := json.Marshal(struct {
		Records []fwdRecord `json:"records"`
	}{recs})
	if err != nil {
		return fail(fmt.Errorf("encode forwarded records: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, ForwardTimeout)
	defer cancel()
	u := base + "/cluster/forward/tables/" + url.PathEscape(table)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fail(fmt.Errorf("forward to %s: %w", base, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(forwardedHeader, strconv.Itoa(int(s.cfg.Cluster.LocalID())))
	if a := from.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := s.forwardClient().Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			// Nothing was sent: the leader is gone; route again.
			return fail(fmt.Errorf("forward to %s: %v: %w", base, err, errLeaderUnavailable))
		}
		return fail(&apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("forward to the leader at %s: %v", base, err)})
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fail(&apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("forward to the leader at %s: read the answer: %v", base, err)})
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("the leader at %s answered %s", base, resp.Status)
		}
		if resp.StatusCode == http.StatusNotFound && e.Error == "no such endpoint: POST "+req.URL.Path {
			// The leader does not run cluster mode's routes (yet): as if it moved.
			return fail(fmt.Errorf("%s: %w", e.Error, errLeaderMoved))
		}
		return fail(&apiError{status: resp.StatusCode, msg: e.Error})
	}
	var ans struct {
		Results []fwdResult `json:"results"`
	}
	if err := json.Unmarshal(b, &ans); err != nil || len(ans.Results) != len(evs) {
		return fail(&apiError{status: http.StatusBadGateway, msg: fmt.Sprintf("the leader at %s answered %d results for %d records", base, len(ans.Results), len(evs))})
	}
	out := make([]wres, len(evs))
	for i, r := range ans.Results {
		switch {
		case r.Error == "":
			out[i] = wres{offset: r.Offset, part: r.Partition}
		case r.Retry:
			out[i] = wres{err: fmt.Errorf("%s: %w", r.Error, errLeaderMoved)}
		default:
			st := r.Status
			if st == 0 {
				st = http.StatusServiceUnavailable
			}
			out[i] = wres{err: &apiError{status: st, msg: r.Error}}
		}
	}
	return out
}

var defaultForwardClient = &http.Client{Timeout: ForwardTimeout}

func (s *server) forwardClient() *http.Client {
	if s.cfg.ForwardClient != nil {
		return s.cfg.ForwardClient
	}
	return defaultForwardClient
}

// postForwarded: POST /cluster/forward/tables/{t}, records another node
// routed here. Appends those whose partition this node leads (acks=all);
// the others answer retry ("leader moved"): never forwarded again.
func (s *server) postForwarded(c *gin.Context) {
	if c.GetHeader(forwardedHeader) == "" {
		s.fail(c, badRequest("%s is the cluster's internal route for forwarded writes: use POST /tables/{t}/bulk", c.Request.URL.Path))
		return
	}
	table, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Base64 and the per-record fields make a forwarded body up to a few
	// times the client's (tiny records).
	r := c.Request
	limit := 8*s.cfg.MaxRequestBytes + 64<<10
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, limit))
	if err != nil {
		s.fail(c, badRequest("read forwarded records: %v", err))
		return
	}
	var req struct {
		Records []fwdRecord `json:"records"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		s.fail(c, badRequest("forwarded records: %v", err))
		return
	}
	if len(req.Records) == 0 {
		s.fail(c, badRequest("forwarded records: none"))
		return
	}
	results := make([]fwdResult, len(req.Records))
	info, ok := s.waitTable(c.Request.Context(), table)
	if !ok {
		for i := range results {
			results[i] = fwdResult{Error: fmt.Sprintf("table %s is not known on node %d yet", table, s.cfg.Cluster.LocalID()), Retry: true}
		}
		writeValue(c, http.StatusOK, struct {
			Results []fwdResult `json:"results"`
		}{results})
		return
	}
	var evs []*event
	var parts []int32
	var idx []int
	for i, fr := range req.Records {
		ev := &event{value: fr.V, key: fr.K, ts: fr.TS, idemKey: fr.ID, partition: fr.P}
		for _, h := range fr.H {
			ev.headers = append(ev.headers, batch.RecordHeader{Key: h.K, Value: h.V})
		}
		switch {
		case fr.P < 0 || fr.P >= info.Partitions:
			results[i] = fwdResult{Error: fmt.Sprintf("partition %d of %s is not known on node %d yet", fr.P, table, s.cfg.Cluster.LocalID()), Retry: true}
			continue
		case len(fr.ID) > MaxIdempotencyKeyBytes:
			results[i] = fwdResult{Error: fmt.Sprintf("idempotency_key longer than %d bytes", MaxIdempotencyKeyBytes), Status: http.StatusBadRequest}
			continue
		}
		if err := checkRecordSize(info, ev, -1); err != nil {
			results[i] = fwdResult{Error: err.Error(), Status: statusOf(err)}
			continue
		}
		if leader, _, ok := s.cfg.Cluster.Leader(table, fr.P); !ok || leader != s.cfg.Cluster.LocalID() {
			results[i] = fwdResult{Error: fmt.Sprintf("%s/%d: node %d does not lead it: %v", table, fr.P, s.cfg.Cluster.LocalID(), errLeaderMoved), Retry: true}
			continue
		}
		if ev.ts < 0 {
			ev.ts = time.Now().UnixMilli()
		}
		evs, parts, idx = append(evs, ev), append(parts, fr.P), append(idx, i)
	}
	if len(evs) > 0 {
		for j, r := range s.appendLocal(c.Request.Context(), table, evs, parts) {
			i := idx[j]
			if r.err != nil {
				results[i] = fwdResult{Error: r.err.Error(), Status: statusOf(r.err), Retry: retriable(r.err)}
				continue
			}
			results[i] = fwdResult{Offset: r.offset, Partition: r.part}
		}
	}
	writeValue(c, http.StatusOK, struct {
		Results []fwdResult `json:"results"`
	}{results})
}

// waitTable returns the table once this node's log has it, waiting up to
// tableWaitFor for a topic the catalog has not delivered yet.
func (s *server) waitTable(ctx context.Context, table string) (plog.TopicInfo, bool) {
	deadline := time.Now().Add(tableWaitFor)
	for {
		if info, ok := s.log.Topic(table); ok {
			return info, true
		}
		if time.Now().After(deadline) {
			return plog.TopicInfo{}, false
		}
		select {
		case <-ctx.Done():
			return plog.TopicInfo{}, false
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// ensureTableCluster creates a table through the cluster's catalog on its
// first write (ZOMBI_DEFAULT_PARTITIONS partitions, the default
// replication factor) and returns it once this node's log has it.
func (s *server) ensureTableCluster(ctx context.Context, table string) (plog.TopicInfo, error) {
	if info, ok := s.log.Topic(table); ok {
		return info, nil
	}
	err := s.cfg.Cluster.CreateTopic(ctx, table, s.cfg.DefaultPartitions, -1, nil)
	if err != nil && !errors.Is(err, plog.ErrTopicExists) {
		return plog.TopicInfo{}, fmt.Errorf("create table %s: %w", table, err)
	}
	if info, ok := s.waitTable(ctx, table); ok {
		return info, nil
	}
	return plog.TopicInfo{}, fmt.Errorf("table %s was created but has not reached this node yet: %w", table, ErrClusterUnavailable)
}
