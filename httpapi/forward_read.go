package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// Reads in cluster mode: each partition is read on its leader, where the
// high watermark is (a follower learns it one fetch later, so a record just
// acknowledged could be missing there). A single-partition GET is passed to
// the leader whole; a merged GET asks each remote leader for its
// partition's records (the internal GET forwardPath) and merges them as
// when every partition is local.

// fwdRead is one partition's records as a leader returns them.
type fwdRead struct {
	Records []fwdReadRecord `json:"records"`
	More    bool            `json:"more"`
}

type fwdReadRecord struct {
	O  int64       `json:"o"`
	TS int64       `json:"ts"`
	K  []byte      `json:"k"`
	V  []byte      `json:"v"`
	H  []fwdHeader `json:"h,omitempty"`
}

// remoteLeader is the partition's leader when another node leads it and
// this request was not forwarded already: its base URL, or "" to read
// here. An offline or unknown leader is an error (503, retry).
func (s *server) remoteLeader(c *gin.Context, table string, part int32) (string, error) {
	cl := s.cfg.Cluster
	if cl == nil || c.GetHeader(forwardedHeader) != "" {
		return "", nil
	}
	leader, base, ok := cl.Leader(table, part)
	switch {
	case !ok:
		return "", nil // unknown to the cluster: the local log answers (no such table)
	case leader == cl.LocalID():
		return "", nil
	case leader < 0 || base == "":
		return "", fmt.Errorf("%s/%d: %w", table, part, errLeaderUnavailable)
	}
	return base, nil
}

// forwardRequest sends a GET to another node with the client's
// credentials, marked forwarded, and returns its status and body.
func (s *server) forwardRequest(ctx context.Context, from *http.Request, u string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, ForwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set(forwardedHeader, strconv.Itoa(int(s.cfg.Cluster.LocalID())))
	if a := from.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := s.forwardClient().Do(req)
	if err != nil {
		return 0, nil, &apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("read from the leader: %v", err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return 0, nil, &apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("read from the leader: %v", err)}
	}
	return resp.StatusCode, b, nil
}

// proxyRead answers a single-partition GET with the leader's answer.
func (s *server) proxyRead(c *gin.Context, base string) {
	u := base + c.Request.URL.Path
	if q := c.Request.URL.RawQuery; q != "" {
		u += "?" + q
	}
	code, b, err := s.forwardRequest(c.Request.Context(), c.Request, u)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c, code, b)
}

// remotePartition reads one partition on its leader (merged reads).
func (s *server) remotePartition(c *gin.Context, base, table string, part int32, p readParams) ([]rec, bool, error) {
	q := url.Values{}
	q.Set("partition", strconv.Itoa(int(part)))
	q.Set("since", strconv.FormatInt(p.since, 10))
	q.Set("limit", strconv.Itoa(p.limit))
	u := base + "/cluster/forward/tables/" + url.PathEscape(table) + "?" + q.Encode()
	code, b, err := s.forwardRequest(c.Request.Context(), c.Request, u)
	if err != nil {
		return nil, false, err
	}
	if code != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("the leader of %s/%d answered %d", table, part, code)
		}
		return nil, false, &apiError{status: code, msg: e.Error}
	}
	var fr fwdRead
	if err := json.Unmarshal(b, &fr); err != nil {
		return nil, false, &apiError{status: http.StatusBadGateway, msg: fmt.Sprintf("the leader of %s/%d: %v", table, part, err)}
	}
	out := make([]rec, 0, len(fr.Records))
	for _, r := range fr.Records {
		br := batch.Record{Offset: r.O, Timestamp: r.TS, Key: r.K, Value: r.V}
		for _, h := range r.H {
			br.Headers = append(br.Headers, batch.RecordHeader{Key: h.K, Value: h.V})
		}
		out = append(out, rec{part: part, r: br})
	}
	return out, fr.More, nil
}

// getForwarded: GET /cluster/forward/tables/{t}?partition=&since=&limit=,
// one partition's records for another node's merged read.
func (s *server) getForwarded(c *gin.Context) {
	if c.GetHeader(forwardedHeader) == "" {
		s.fail(c, badRequest("%s is the cluster's internal route for forwarded reads: use GET /tables/{t}", c.Request.URL.Path))
		return
	}
	table, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	p, err := parseReadParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if p.partition < 0 {
		s.fail(c, badRequest("query parameter partition is required"))
		return
	}
	out := fwdRead{Records: []fwdReadRecord{}}
	if info, ok := s.log.Topic(table); ok && p.partition < info.Partitions {
		list, more, err := s.collectFrom(table, p.partition, p)
		if errors.Is(err, plog.ErrColdUnavailable) {
			list, more, err = s.collectHot(table, p.partition, p)
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		out.More = more
		for _, r := range list {
			fr := fwdReadRecord{O: r.r.Offset, TS: r.r.Timestamp, K: r.r.Key, V: r.r.Value}
			for _, h := range r.r.Headers {
				fr.H = append(fr.H, fwdHeader{K: h.Key, V: h.Value})
			}
			out.Records = append(out.Records, fr)
		}
	}
	writeValue(c, http.StatusOK, out)
}

// leadersOffsets replaces, in a table's description, the offsets of the
// partitions other nodes lead with their leader's (one GET /tables/{t}/info
// per leader): the high watermark is the leader's. A leader that cannot be
// asked leaves this node's copy in place (its high watermark may trail).
func (s *server) leadersOffsets(c *gin.Context, t tableJSON) tableJSON {
	if s.cfg.Cluster == nil || c.GetHeader(forwardedHeader) != "" {
		return t
	}
	byLeader := map[string][]int{} // base URL -> indexes in t.Offsets
	for i, pj := range t.Offsets {
		if base, err := s.remoteLeader(c, t.Name, pj.Partition); err == nil && base != "" {
			byLeader[base] = append(byLeader[base], i)
		}
	}
	for base, idx := range byLeader {
		code, b, err := s.forwardRequest(c.Request.Context(), c.Request, base+"/tables/"+url.PathEscape(t.Name)+"/info")
		var theirs tableJSON
		if err != nil || code != http.StatusOK || json.Unmarshal(b, &theirs) != nil {
			s.logger.Debug("table offsets from the leader", "table", t.Name, "leader", base, "status", code, "err", err)
			continue
		}
		for _, i := range idx {
			p := t.Offsets[i].Partition
			if int(p) < len(theirs.Offsets) && theirs.Offsets[p].Partition == p {
				t.Offsets[i] = theirs.Offsets[p]
			}
		}
	}
	t.Records, t.Bytes = 0, 0
	for _, pj := range t.Offsets {
		t.Records += max(0, pj.HighWatermark-pj.LogStart)
		t.Bytes += pj.Bytes
	}
	return t
}
