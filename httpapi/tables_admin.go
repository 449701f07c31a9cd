package httpapi

import (
	"math"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// Table administration: GET /tables, GET /tables/{t}/info, DELETE
// /tables/{t}. PUT /tables/{t} and PATCH /tables/{t}/configs live with the
// topic configs.

// MaxTablesLimit bounds GET /tables?limit=.
const MaxTablesLimit = 1000

// getTables: GET /tables?prefix=&q=&offset=&limit=: the tables the caller
// may DESCRIBE (as Kafka's Metadata lists topics), sorted by name; prefix
// and q (a case-insensitive substring) filter, offset and limit page, total
// counts the matches before paging. Names are filtered and paged first and
// the TABLE views built for the page only, so a page stays quick with
// thousands of topics.
func (s *server) getTables(c *gin.Context) {
	prefix := c.Query("prefix")
	q := c.Query("q")
	if len(q) > maxFilterBytes {
		s.fail(c, badRequest("query parameter q is %d bytes, at most %d", len(q), maxFilterBytes))
		return
	}
	if !utf8.ValidString(q) { // as the message browser and the tail
		s.fail(c, badRequest("query parameter q is not valid UTF-8"))
		return
	}
	q = strings.ToLower(q)
	qASCII := isASCII(q)
	offset, _, err := queryInt(c, "offset", 0, math.MaxInt32)
	if err != nil {
		s.fail(c, err)
		return
	}
	limit, paged, err := queryInt(c, "limit", 1, MaxTablesLimit)
	if err != nil {
		s.fail(c, err)
		return
	}
	all := s.log.TopicNames() // sorted
	match := all[:0]
	for _, name := range all {
		if plog.IsInternalTopic(name) {
			continue // cluster mode's coordinator partitions are no table
		}
		if !strings.HasPrefix(name, prefix) || !containsFold(name, q, qASCII) {
			continue
		}
		if !s.allowed(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name) {
			continue
		}
		match = append(match, name)
	}
	page := match[min(int(offset), len(match)):]
	if paged && int64(len(page)) > limit {
		page = page[:limit]
	}
	out := make([]tableJSON, 0, len(page))
	for _, name := range page {
		info, ok := s.log.Topic(name)
		if !ok {
			continue // deleted while listing
		}
		t, err := s.tableView(info)
		if err != nil {
			continue
		}
		out = append(out, t)
	}
	s.addRates(c, out)
	writeValue(c, http.StatusOK, struct {
		Tables []tableJSON `json:"tables"`
		Count  int         `json:"count"`
		Total  int         `json:"total"`
	}{out, len(out), len(match)})
}

// getTableInfo: GET /tables/{t}/info.
func (s *server) getTableInfo(c *gin.Context) {
	name, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	t, err := s.tableInfo(name)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeValue(c, http.StatusOK, s.leadersOffsets(c, t))
}

// deleteTable: DELETE /tables/{t}: the table and all its data, as Kafka's
// DeleteTopics (the same log call; the cold tier deletes its objects when
// it sees the topic gone). Committed offsets stay, as in Kafka.
func (s *server) deleteTable(c *gin.Context) {
	name, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if _, ok := s.log.Topic(name); !ok {
		s.fail(c, notFound("table %s does not exist", name))
		return
	}
	if err := s.dropTable(c.Request.Context(), name); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
