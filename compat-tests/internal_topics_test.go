package compat

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestInternalTopics: __consumer_offsets and __transaction_state answer the
// same on Zombi and on Apache Kafka once a group and a transactional id
// have found their coordinators: internal topics of 50 partitions in
// Metadata, hidden by kadm unless asked, producing and deleting records
// refused with INVALID_TOPIC_EXCEPTION, creating them TOPIC_ALREADY_EXISTS,
// compacted by their own config. (Kafka 4.4 deletes them, adds partitions
// and alters their configs on request; Zombi refuses: kafka/README.md.)
func TestInternalTopics(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 60*time.Second)
		cl := newClient(t, b.addr, kgo.RecordRetries(2))
		adm := kadm.NewClient(cl)
		for typ, key := range []string{topicName(t, "g"), topicName(t, "txn")} {
			fc := kmsg.NewPtrFindCoordinatorRequest()
			fc.CoordinatorType, fc.CoordinatorKey, fc.CoordinatorKeys = int8(typ), key, []string{key}
			if _, err := fc.RequestWith(ctx, cl); err != nil {
				t.Fatal(err)
			}
		}
		names := []string{"__consumer_offsets", "__transaction_state"}
		// Kafka creates them on the first FindCoordinator: wait for them.
		var td kadm.TopicDetails
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			var err error
			td, err = adm.ListTopicsWithInternal(ctx, names...)
			ready := err == nil
			for _, n := range names {
				ready = ready && td[n].Err == nil && len(td[n].Partitions) == 50
			}
			if ready {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("internal topics not in metadata: %v %+v", err, td)
			}
		}
		for _, n := range names {
			d := td[n]
			if !d.IsInternal {
				t.Fatalf("%s: is_internal not set", n)
			}
			for _, p := range d.Partitions {
				if p.Leader < 0 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
					t.Fatalf("%s/%d: %+v", n, p.Partition, p)
				}
			}
		}
		all, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if all.Has(n) {
				t.Fatalf("kadm ListTopics shows %s", n)
			}
		}
		for _, n := range names {
			err := cl.ProduceSync(ctx, &kgo.Record{Topic: n, Partition: 0, Value: []byte("x")}).FirstErr()
			if !errors.Is(err, kerr.InvalidTopicException) {
				t.Fatalf("produce to %s: %v", n, err)
			}
			ct := kmsg.NewPtrCreateTopicsRequest()
			ctt := kmsg.NewCreateTopicsRequestTopic()
			ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = n, 1, 1
			ct.Topics = append(ct.Topics, ctt)
			cr, err := ct.RequestWith(ctx, cl)
			if err != nil || cr.Topics[0].ErrorCode != kerr.TopicAlreadyExists.Code {
				t.Fatalf("create %s: %v %+v", n, err, cr)
			}
			dr := kmsg.NewPtrDeleteRecordsRequest()
			drt := kmsg.NewDeleteRecordsRequestTopic()
			drt.Topic = n
			drt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 0}}
			dr.Topics = append(dr.Topics, drt)
			drr, err := dr.RequestWith(ctx, cl)
			if err != nil || drr.Topics[0].Partitions[0].ErrorCode != kerr.InvalidTopicException.Code {
				t.Fatalf("delete records of %s: %v %+v", n, err, drr)
			}
			rc, err := adm.DescribeTopicConfigs(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			c, err := rc.On(n, nil)
			if err != nil || c.Err != nil {
				t.Fatalf("describe configs of %s: %v %v", n, err, c.Err)
			}
			compact := false
			for _, cfg := range c.Configs {
				compact = compact || cfg.Key == "cleanup.policy" && cfg.MaybeValue() == "compact" && cfg.Source == kmsg.ConfigSourceDynamicTopicConfig
			}
			if !compact {
				t.Fatalf("%s: cleanup.policy=compact is not the topic's own config", n)
			}
		}
	})
}
