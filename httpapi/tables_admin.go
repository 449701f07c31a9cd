package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Table administration: GET /tables, GET /tables/{t}/info, DELETE
// /tables/{t}. PUT /tables/{t} and PATCH /tables/{t}/configs live with the
// topic configs.

// getTables: GET /tables?prefix=: every table the caller may DESCRIBE (as
// Kafka's Metadata lists topics), sorted by name.
func (s *server) getTables(c *gin.Context) {
	prefix := c.Query("prefix")
	out := []tableJSON{}
	for _, info := range s.log.Topics() { // sorted by name
		if !strings.HasPrefix(info.Name, prefix) {
			continue
		}
		if !s.allowed(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, info.Name) {
			continue
		}
		t, err := s.tableView(info)
		if err != nil {
			continue // deleted while listing
		}
		out = append(out, t)
	}
	s.addRates(c, out)
	writeValue(c, http.StatusOK, struct {
		Tables []tableJSON `json:"tables"`
		Count  int         `json:"count"`
	}{out, len(out)})
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
	writeValue(c, http.StatusOK, t)
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
	if err := s.log.DeleteTopic(name); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
