package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/internal/seek"
	plog "github.com/zombi-dev/zombi/log"
)

// GroupAdmin is what the offset reset and group deletion need from the
// Kafka door's coordinator (*groups.Coordinator): both run with the group's
// lock held, so no member can join between the check for members and the
// change. Config.Groups is used as one when it implements it; otherwise
// (no Kafka door) there are no members to wait for.
type GroupAdmin interface {
	// WhileEmpty runs fn while the group has no members; kerr.NonEmptyGroup
	// otherwise.
	WhileEmpty(group string, fn func() error) error
	// Delete removes an empty group; deleteOffsets reports whether it had
	// committed offsets.
	Delete(group string, deleteOffsets func() (bool, *kerr.Error)) (found bool, err *kerr.Error)
}

func (s *server) groupAdmin() GroupAdmin {
	if ga, ok := s.cfg.Groups.(GroupAdmin); ok {
		return ga
	}
	return nil
}

func errGroupHasMembers(group string) error {
	return &apiError{status: http.StatusConflict, msg: fmt.Sprintf("consumer group %s has active members: stop its consumers first (nothing changed)", group)}
}

// errCoordinator: the coordinator refused for another reason (closing, or
// too many groups in memory): retriable.
func errCoordinator(ke *kerr.Error) error {
	return &apiError{status: http.StatusServiceUnavailable, msg: "group coordinator unavailable: " + ke.Message}
}

type resetBody struct {
	To      *string  `json:"to"`
	Topics  []string `json:"topics"`
	Execute bool     `json:"execute"`
}

type resetStep struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current"`
	Target    int64  `json:"target"`
}

// postReset: POST /consumers/{g}/reset: where the group's committed offsets
// would go (the plan), committed only with "execute": true. Refused with
// 409 while the group has members, dry run included (as Kafka's tool).
func (s *server) postReset(c *gin.Context) {
	group, err := groupParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var rb resetBody
	if err := s.readJSON(c, &rb, unmarshalBody); err != nil {
		s.fail(c, err)
		return
	}
	if rb.To == nil {
		s.fail(c, badRequest("to is required: start, end, an offset, @timestamp or -DURATION"))
		return
	}
	target, err := seek.Parse(*rb.To, time.Now())
	if err != nil {
		s.fail(c, badRequest("invalid to: %v", err))
		return
	}
	for _, t := range rb.Topics {
		if !plog.ValidTopicName(t) {
			s.fail(c, badRequest("invalid topic name %q: must match [a-zA-Z0-9._-]{1,249} and not be '.' or '..'", t))
			return
		}
	}
	var plan []resetStep
	err = s.whileEmpty(group, func() error {
		var err error
		if plan, err = s.resetPlan(c, group, target, rb.Topics); err != nil || !rb.Execute {
			return err
		}
		offs := make([]plog.CommittedOffset, len(plan))
		now := time.Now().UnixMilli()
		for i, st := range plan {
			offs[i] = plog.CommittedOffset{Group: group, Topic: st.Topic, Partition: st.Partition, Offset: st.Target, LeaderEpoch: -1, CommitTimeMs: now}
		}
		if len(offs) == 0 {
			return nil
		}
		return s.commitOffsets(c, offs)
	})
	if err != nil {
		if !c.Writer.Written() {
			s.fail(c, err)
		}
		return
	}
	writeValue(c, http.StatusOK, struct {
		Group    string      `json:"group"`
		To       string      `json:"to"`
		Executed bool        `json:"executed"`
		Plan     []resetStep `json:"plan"`
	}{group, target.String(), rb.Execute, plan})
}

// whileEmpty runs fn while the group has no members (409 otherwise).
func (s *server) whileEmpty(group string, fn func() error) error {
	ga := s.groupAdmin()
	if ga == nil {
		return fn()
	}
	err := ga.WhileEmpty(group, fn)
	var ke *kerr.Error
	if errors.As(err, &ke) && ke == kerr.NonEmptyGroup {
		return errGroupHasMembers(group)
	}
	if errors.As(err, &ke) {
		return errCoordinator(ke)
	}
	return err
}

// resetPlan is where each partition of the topics (default: those the
// group has committed offsets for) would go; it checks READ on each topic
// (403, answered here) and that each exists (404).
func (s *server) resetPlan(c *gin.Context, group string, target seek.Target, topics []string) ([]resetStep, error) {
	offs, err := s.log.GroupOffsets(group)
	if err != nil {
		return nil, err
	}
	type tp struct {
		topic string
		part  int32
	}
	current := map[tp]int64{}
	for _, o := range offs {
		current[tp{o.Topic, o.Partition}] = o.Offset
	}
	topics = slices.Clone(topics)
	if len(topics) == 0 {
		for _, o := range offs {
			topics = append(topics, o.Topic)
		}
		if len(topics) == 0 {
			return nil, notFound("consumer group %s has no committed offsets: name the topics to reset", group)
		}
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	plan := []resetStep{}
	for _, t := range topics {
		// As OffsetCommit: READ on the group (route) and on the topic.
		if !s.authorize(c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, t) {
			return nil, errForbiddenAnswered
		}
		info, ok := s.log.Topic(t)
		if !ok {
			return nil, notFound("table %s does not exist", t)
		}
		for p := int32(0); p < info.Partitions; p++ {
			start, hwm, err := s.log.Offsets(t, p)
			if err != nil {
				return nil, err
			}
			timeOffset := int64(-1)
			if target.Kind == seek.Time {
				if timeOffset, _, err = s.log.OffsetForTimestamp(t, p, target.TimeMs); err != nil {
					return nil, err
				}
			}
			cur, ok := current[tp{t, p}]
			if !ok {
				cur = -1
			}
			plan = append(plan, resetStep{Topic: t, Partition: p, Current: cur, Target: target.Resolve(start, hwm, timeOffset)})
		}
	}
	return plan, nil
}

// errForbiddenAnswered: authorize already wrote the 403.
var errForbiddenAnswered = errors.New("forbidden (answered)")

// deleteConsumerGroup: DELETE /consumers/{g}: an empty group's committed
// offsets (as Kafka's DeleteGroups); 404 when it has neither members nor
// offsets, 409 while it has members.
func (s *server) deleteConsumerGroup(c *gin.Context) {
	group, err := groupParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var logErr error
	deleteOffsets := func() (bool, *kerr.Error) {
		offs, err := s.log.GroupOffsets(group)
		if err == nil && len(offs) > 0 {
			err = s.deleteGroupOffsets(c, group, offs)
		}
		if err != nil {
			logErr = err
			return false, kerr.UnknownServerError
		}
		return len(offs) > 0, nil
	}
	var found bool
	var kerrV *kerr.Error
	if ga := s.groupAdmin(); ga != nil {
		found, kerrV = ga.Delete(group, deleteOffsets)
	} else {
		found, kerrV = deleteOffsets()
	}
	switch {
	case logErr != nil:
		s.fail(c, logErr)
	case kerrV == kerr.NonEmptyGroup:
		s.fail(c, errGroupHasMembers(group))
	case kerrV != nil:
		s.fail(c, errCoordinator(kerrV))
	case !found:
		s.fail(c, notFound("no consumer group %s (no members, no committed offsets)", group))
	default:
		c.Status(http.StatusNoContent)
	}
}
