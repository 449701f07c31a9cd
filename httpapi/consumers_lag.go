package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// groupListJSON is a group of GET /consumers: the group and its total lag,
// the same sum as GET /consumers/{g}'s total_lag.
type groupListJSON struct {
	groupJSON
	TotalLag int64 `json:"total_lag"`
}

// totalLags fills each listed group's total lag from one read of every
// committed offset (sorted by group), as GET /consumers/{g} computes it.
func (s *server) totalLags(c *gin.Context, out []groupListJSON) error {
	all, err := s.log.AllOffsets()
	if err != nil {
		return err
	}
	byGroup := map[string][]plog.CommittedOffset{}
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].Group == all[i].Group {
			j++
		}
		byGroup[all[i].Group] = all[i:j]
		i = j
	}
	for i := range out {
		_, out[i].TotalLag = s.groupPartitions(c, out[i].groupJSON, byGroup[out[i].Group])
	}
	return nil
}

// getLagHistory: GET /consumers/{g}/lag-history, the group's lag per
// partition every 10 s over the last 15 minutes, from the history sampler.
// Partitions of topics the caller may not DESCRIBE are left out, as in GET
// /consumers/{g}.
func (s *server) getLagHistory(c *gin.Context) {
	group, err := groupParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.cfg.History == nil {
		s.fail(c, errHistoryOff)
		return
	}
	series := s.cfg.History.LagHistory(group)
	shown := series[:0]
	for _, ls := range series {
		if s.allowed(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, ls.Topic) {
			shown = append(shown, ls)
		}
	}
	writeValue(c, http.StatusOK, struct {
		IntervalMs int64 `json:"interval_ms"`
		Series     any   `json:"series"`
	}{s.cfg.History.SlowInterval().Milliseconds(), shown})
}
