package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// Topic configs over REST: PUT /tables/{t} creates a table with partitions
// and configs, PATCH /tables/{t}/configs sets and deletes configs. Both
// check configs with the rules the Kafka door uses (log/topicconfig), and
// answer with TABLE (table_info.go).

// configValues are config values as JSON gives them: strings, or numbers
// and booleans, kept as written ("retention.ms": 3600000 is "3600000").
type configValues map[string]json.RawMessage

func (cv configValues) strings() (map[string]string, error) {
	out := make(map[string]string, len(cv))
	for k, raw := range cv {
		raw = bytes.TrimSpace(raw)
		var s string
		switch {
		case len(raw) > 0 && raw[0] == '"':
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, badRequest("configs.%s: %v", k, err)
			}
		case bytes.Equal(raw, []byte("true")), bytes.Equal(raw, []byte("false")):
			s = string(raw)
		default:
			var n json.Number
			if err := json.Unmarshal(raw, &n); err != nil {
				return nil, badRequest("configs.%s: a value must be a string, a number or a boolean", k)
			}
			s = n.String()
		}
		out[k] = s
	}
	return out, nil
}

// decodeStrict decodes a JSON body (empty: zero value), refusing unknown
// fields and trailing data.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	if d.More() {
		return badRequest("invalid JSON body: data after the object")
	}
	return nil
}

// putTable: PUT /tables/{t} {"partitions":3,"configs":{"k":"v"}} -> 201
// TABLE; 409 when the table exists. CREATE on the cluster or the topic.
func (s *server) putTable(c *gin.Context) {
	table, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !s.allowed(c, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, clusterResource) &&
		!s.authorize(c, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, table) {
		return
	}
	var req struct {
		Partitions *json.Number `json:"partitions"`
		Configs    configValues `json:"configs"`
	}
	if err := s.readJSON(c, &req, decodeStrict); err != nil {
		s.fail(c, err)
		return
	}
	parts := s.cfg.DefaultPartitions
	if req.Partitions != nil {
		n, err := strconv.ParseInt(req.Partitions.String(), 10, 32)
		if err != nil || n <= 0 || n > plog.MaxPartitions {
			s.fail(c, badRequest("partitions must be an integer from 1 to %d, got %s", plog.MaxPartitions, req.Partitions.String()))
			return
		}
		parts = int32(n)
	}
	configs, err := req.Configs.strings()
	if err == nil {
		err = topicconfig.ValidateAll(configs) // 400 by the error table
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(configs) == 0 {
		configs = nil
	}
	info, err := s.createTable(c.Request.Context(), table, parts, configs)
	if errors.Is(err, plog.ErrTopicExists) {
		s.fail(c, &apiError{status: http.StatusConflict, msg: fmt.Sprintf("table %s already exists", table)})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.answerTable(c, http.StatusCreated, info)
}

// patchTableConfigs: PATCH /tables/{t}/configs {"set":{"k":"v"},
// "delete":["k"]} -> 200 TABLE; 404 unknown table. ALTER_CONFIGS on the
// topic (the route's ACL). All changes land in one durable write, or none.
func (s *server) patchTableConfigs(c *gin.Context) {
	table, err := tableParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req struct {
		Set    configValues `json:"set"`
		Delete []string     `json:"delete"`
	}
	if err := s.readJSON(c, &req, decodeStrict); err != nil {
		s.fail(c, err)
		return
	}
	set, err := req.Set.strings()
	if err != nil {
		s.fail(c, err)
		return
	}
	changes := make([]topicconfig.Change, 0, len(set)+len(req.Delete))
	for _, k := range slices.Sorted(maps.Keys(set)) {
		changes = append(changes, topicconfig.Change{Name: k, Op: topicconfig.Set, Value: set[k]})
	}
	for _, k := range req.Delete {
		if _, both := set[k]; both {
			s.fail(c, badRequest("config %s is both set and deleted", k))
			return
		}
		changes = append(changes, topicconfig.Change{Name: k, Op: topicconfig.Delete})
	}
	info, ok := s.log.Topic(table)
	if !ok {
		s.fail(c, notFound("table %s does not exist", table))
		return
	}
	next, err := topicconfig.Apply(info.Configs, changes, s.log.TopicDefaults())
	if err != nil {
		s.fail(c, err)
		return
	}
	info, err = s.setTableConfigs(c.Request.Context(), info, next)
	if errors.Is(err, plog.ErrUnknownTopic) {
		s.fail(c, notFound("table %s does not exist", table))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.answerTable(c, http.StatusOK, info)
}

func (s *server) answerTable(c *gin.Context, status int, info plog.TopicInfo) {
	t, err := s.tableView(info)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeValue(c, status, t)
}
