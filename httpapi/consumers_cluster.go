package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	plog "github.com/zombi-dev/zombi/log"
)

// Consumer-offset routes in cluster mode (issue 19 point 6): a group's
// offsets are written by its coordinator, the leader of the group's
// __consumer_offsets partition, as Kafka's OffsetCommit. A node that is not
// the group's loaded coordinator passes the request once to the
// coordinator's REST API (marked forwarded); a forwarded request that lands
// on a non-coordinator answers 503 "not coordinator" (retriable): the
// sender's view was stale, the client retries. On the coordinator, commits,
// resets and deletions go through the replicated internal partition and
// reads through the view (the log's offsets), as on one node.

// coordKey holds the request's *GroupCoord in the gin context: set when
// this node is the group's loaded coordinator in cluster mode.
const coordKey = "zombi.groupCoord"

// onCoordinator wraps a /consumers/{g}... handler: alone it runs as is; in
// cluster mode it runs on the group's coordinator only.
func (s *server) onCoordinator(h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := s.cfg.Cluster
		if cl == nil {
			h(c)
			return
		}
		group, err := groupParam(c)
		if err != nil {
			s.fail(c, err)
			return
		}
		gc, err := cl.GroupCoordinator(group)
		switch {
		case err != nil:
			s.fail(c, fmt.Errorf("group %s: %w", group, err))
		case gc.Local && gc.Loaded:
			c.Set(coordKey, &gc)
			h(c)
		case gc.Local:
			s.fail(c, fmt.Errorf("group %s: node %d is loading the group's offsets: %w", group, cl.LocalID(), ErrCoordinatorNotAvailable))
		case c.GetHeader(forwardedHeader) != "":
			// Forwarded once only: a stale view on either side.
			s.fail(c, ErrNotCoordinator)
		case gc.URL == "":
			s.fail(c, fmt.Errorf("group %s: its coordinator (node %d) is not live: %w", group, gc.Node, ErrCoordinatorNotAvailable))
		default:
			s.proxyToCoordinator(c, gc)
		}
	}
}

// groupCoord is the request's coordinator (nil: one node, write the log).
func groupCoord(c *gin.Context) *GroupCoord {
	if v, ok := c.Get(coordKey); ok {
		gc, _ := v.(*GroupCoord)
		return gc
	}
	return nil
}

// proxyToCoordinator passes the request (method, path, query, body, the
// client's credentials) to the coordinator and answers what it answers.
func (s *server) proxyToCoordinator(c *gin.Context, gc GroupCoord) {
	var body []byte
	if c.Request.Body != nil {
		b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxRequestBytes))
		if err != nil {
			s.fail(c, err)
			return
		}
		body = b
	}
	u := gc.URL + c.Request.URL.Path
	if q := c.Request.URL.RawQuery; q != "" {
		u += "?" + q
	}
	code, hdr, b, err := s.forwardAny(c.Request.Context(), c.Request, c.Request.Method, u, body)
	if err != nil {
		s.fail(c, err)
		return
	}
	if ra := hdr.Get("Retry-After"); ra != "" {
		c.Writer.Header().Set("Retry-After", ra)
	}
	if code == http.StatusNoContent {
		c.Status(code)
		return
	}
	writeJSON(c, code, b)
}

// forwardAny sends a request to another node, marked forwarded, with the
// client's Content-Type and credentials; an unreachable node is a
// retriable 503.
func (s *server) forwardAny(ctx context.Context, from *http.Request, method, u string, body []byte) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, ForwardTimeout)
	defer cancel()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("forward to %s: %w", u, err)
	}
	req.Header.Set(forwardedHeader, strconv.Itoa(int(s.cfg.Cluster.LocalID())))
	for _, h := range []string{"Authorization", "Content-Type"} {
		if v := from.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := s.forwardClient().Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("forward to the group's coordinator: %v: %w", err, ErrCoordinatorNotAvailable)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("forward to the group's coordinator: read the answer: %v: %w", err, ErrCoordinatorNotAvailable)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// coordWriteTimeout bounds a replicated offset write (Kafka's
// offsets.commit.timeout.ms).
const coordWriteTimeout = 5 * time.Second

// commitOffsets stores a group's offsets: the log's keys alone, the
// group's internal partition on its coordinator.
func (s *server) commitOffsets(c *gin.Context, offs []plog.CommittedOffset) error {
	gc := groupCoord(c)
	if gc == nil {
		return s.log.CommitOffsets(offs)
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), coordWriteTimeout)
	defer cancel()
	return s.cfg.Cluster.CommitGroupOffsets(ctx, *gc, offs)
}

// deleteGroupOffsets deletes every committed offset of a group (offs, as
// read): tombstones and the group's end on its coordinator.
func (s *server) deleteGroupOffsets(c *gin.Context, group string, offs []plog.CommittedOffset) error {
	gc := groupCoord(c)
	if gc == nil {
		return s.log.DeleteOffsets(group, "", nil)
	}
	keys := make([]plog.OffsetKey, len(offs))
	for i, o := range offs {
		keys[i] = plog.OffsetKey{Group: group, Topic: o.Topic, Partition: o.Partition}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), coordWriteTimeout)
	defer cancel()
	return s.cfg.Cluster.DeleteGroupOffsets(ctx, *gc, group, keys, true)
}

// coordinatorRetry: a coordinator 503 whose body says retriable.
func coordinatorRetry(err error) bool {
	return errors.Is(err, ErrNotCoordinator) || errors.Is(err, ErrCoordinatorNotAvailable)
}

// writeRetriable answers 503 {"error": msg, "retriable": true}.
func writeRetriable(c *gin.Context, msg string) {
	b := make([]byte, 0, len(msg)+32)
	b = append(b, `{"error":`...)
	b = appendString(b, msg)
	b = append(b, `,"retriable":true}`...)
	b = append(b, '\n')
	c.Writer.Header().Set("Retry-After", "1")
	writeJSON(c, http.StatusServiceUnavailable, b)
}

// remoteGroups is GET /consumers on every other live node (each answers
// the groups it knows: those it coordinates with members, and those its
// view has offsets for), by node id. A node that cannot answer is left
// out: the listing is best effort, as Kafka's ListGroups over brokers.
func (s *server) remoteGroups(c *gin.Context) map[int32][]groupListJSON {
	cl := s.cfg.Cluster
	out := map[int32][]groupListJSON{}
	if cl == nil || c.GetHeader(forwardedHeader) != "" {
		return out
	}
	type ans struct {
		id     int32
		groups []groupListJSON
	}
	ch := make(chan ans)
	n := 0
	for id, base := range cl.LiveNodes() {
		if id == cl.LocalID() || base == "" {
			continue
		}
		n++
		go func() {
			code, _, b, err := s.forwardAny(c.Request.Context(), c.Request, http.MethodGet, base+"/consumers", nil)
			var v struct {
				Groups []groupListJSON `json:"groups"`
			}
			if err == nil && code == http.StatusOK {
				err = json.Unmarshal(b, &v)
			} else if err == nil {
				err = fmt.Errorf("status %d", code)
			}
			if err != nil {
				s.logger.Debug("consumer groups of a node", "node", id, "err", err)
			}
			ch <- ans{id, v.Groups}
		}()
	}
	for range n {
		a := <-ch
		out[a.id] = a.groups
	}
	return out
}

// mergeGroups merges this node's groups with the other nodes': each group
// once, as its coordinator describes it when that node answered, else the
// answer with members, else the first.
func (s *server) mergeGroups(local []groupListJSON, remote map[int32][]groupListJSON) []groupListJSON {
	cl := s.cfg.Cluster
	if len(remote) == 0 {
		return local
	}
	byNode := map[int32][]groupListJSON{cl.LocalID(): local}
	for id, gs := range remote {
		byNode[id] = gs
	}
	type pick struct {
		g    groupListJSON
		from int32
	}
	best := map[string]pick{}
	var order []string
	for id, gs := range byNode {
		for _, g := range gs {
			cur, seen := best[g.Group]
			if !seen {
				order = append(order, g.Group)
				best[g.Group] = pick{g, id}
				continue
			}
			if len(g.Members) > len(cur.g.Members) {
				best[g.Group] = pick{g, id}
			}
		}
	}
	out := make([]groupListJSON, 0, len(order))
	for _, name := range order {
		p := best[name]
		if gc, err := cl.GroupCoordinator(name); err == nil {
			for _, g := range byNode[gc.Node] {
				if g.Group == name {
					p.g = g
				}
			}
		}
		out = append(out, p.g)
	}
	return out
}
