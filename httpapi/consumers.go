package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

type commitBody struct {
	Topic     *string `json:"topic"`
	Partition *int32  `json:"partition"`
	Offset    *int64  `json:"offset"`
}

type committed struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func groupParam(c *gin.Context) (string, error) {
	g := c.Param("group")
	if g == "" || len(g) > plog.MaxGroupLen {
		return "", badRequest("invalid group id: must be 1 to %d bytes", plog.MaxGroupLen)
	}
	return g, nil
}

// checkPartition rejects a partition beyond an existing table's count.
// Commits for tables that do not exist (yet) are stored as given.
func (s *server) checkPartition(topic string, part int32) error {
	if info, ok := s.log.Topic(topic); ok && part >= info.Partitions {
		return badRequest("partition %d out of range: table %s has %d partition(s)", part, topic, info.Partitions)
	}
	return nil
}

// postCommit: POST /consumers/{g}/commit.
func (s *server) postCommit(c *gin.Context) {
	group, err := groupParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var cb commitBody
	if err := s.readJSON(c, &cb, unmarshalBody); err != nil {
		s.fail(c, err)
		return
	}
	switch {
	case cb.Topic == nil:
		err = badRequest("topic is required")
	case !plog.ValidTopicName(*cb.Topic):
		err = badRequest("invalid topic name %q: must match [a-zA-Z0-9._-]{1,249} and not be '.' or '..'", *cb.Topic)
	case cb.Partition == nil:
		err = badRequest("partition is required")
	case *cb.Partition < 0:
		err = badRequest("partition must be >= 0, got %d", *cb.Partition)
	case cb.Offset == nil:
		err = badRequest("offset is required")
	case *cb.Offset < 0:
		err = badRequest("offset must be >= 0, got %d", *cb.Offset)
	default:
		err = s.checkPartition(*cb.Topic, *cb.Partition)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	// As Kafka's OffsetCommit: READ on the group (route) and on the topic.
	if !s.authorize(c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, *cb.Topic) {
		return
	}
	co := plog.CommittedOffset{Group: group, Topic: *cb.Topic, Partition: *cb.Partition, Offset: *cb.Offset, LeaderEpoch: -1}
	if err := s.commitOffsets(c, []plog.CommittedOffset{co}); err != nil {
		s.fail(c, err)
		return
	}
	writeCommitted(c, committed{Group: group, Topic: co.Topic, Partition: co.Partition, Offset: co.Offset})
}

// getOffset: GET /consumers/{g}/offset?topic=&partition= (partition
// defaults to 0).
func (s *server) getOffset(c *gin.Context) {
	group, err := groupParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	topic, ok := c.GetQuery("topic")
	if !ok || topic == "" {
		s.fail(c, badRequest("query parameter topic is required"))
		return
	}
	if !plog.ValidTopicName(topic) {
		s.fail(c, badRequest("invalid topic name %q: must match [a-zA-Z0-9._-]{1,249} and not be '.' or '..'", topic))
		return
	}
	// READ on the group (route), DESCRIBE on the topic as OffsetFetch.
	if !s.authorize(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, topic) {
		return
	}
	part, _, err := queryInt(c, "partition", 0, plog.MaxPartitions-1)
	if err != nil {
		s.fail(c, err)
		return
	}
	co, found, err := s.log.FetchOffset(group, topic, int32(part))
	if err != nil {
		s.fail(c, err)
		return
	}
	if !found {
		s.fail(c, notFound("no offset committed for group %s on %s/%d", group, topic, part))
		return
	}
	writeCommitted(c, committed{Group: group, Topic: topic, Partition: int32(part), Offset: co.Offset})
}

func writeCommitted(c *gin.Context, v committed) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		panic(err) // cannot fail for this struct
	}
	writeJSON(c, http.StatusOK, buf.Bytes())
}
