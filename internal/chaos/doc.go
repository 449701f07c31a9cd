// Package chaos is the workload and the checker of the fault tests (issue
// 19 point 8): idempotent acks=all producers (franz-go and librdkafka), a
// consumer group reading throughout, a final read of every partition, and a
// checker that reports what was acknowledged, lost, duplicated, reused or
// misplaced and, per fault, the longest time without an acknowledgement on
// the victim's partitions.
//
// A test with a cluster harness uses it like this (workload_test.go does it
// against one node):
//
//	l := chaos.NewLedger()
//	seeds := []string{n1.KafkaAddr, n2.KafkaAddr, n3.KafkaAddr}
//	two := "2"
//	err := chaos.EnsureTopic(ctx, seeds, topic, 3, 3, map[string]*string{"min.insync.replicas": &two})
//	producing, stopProducing := context.WithCancel(ctx)
//	reading, stopReading := context.WithCancel(ctx)
//	go chaos.RunFranzProducers(producing, chaos.ProducerConfig{Seeds: seeds, Topic: topic, Producers: 2, Rate: 150}, l)
//	go chaos.RunLibrdkafkaProducer(producing, chaos.LibrdkafkaConfig{Python: venv.Python(), Seeds: seeds, Topic: topic, Rate: 150}, l)
//	go chaos.RunGroup(reading, chaos.GroupConfig{Seeds: seeds, Topic: topic, Group: "g", Members: 2}, l)
//	// Each fault names its victim partitions: those the victim leads
//	// (kadm Metadata just before the fault).
//	healed := l.StartFault("kill -9 leader of p0", 0, 2)
//	victim.Kill()
//	healed() // at once: the cluster heals a kill by itself; the gap is the failover
//	...      // or, for a fault the test undoes (SIGSTOP, etcd down), healed() when undone
//	stopProducing(); /* wait for the producers */
//	err = chaos.WaitCaughtUp(ctx, l, "g", 20*time.Second) // the group went on and caught up
//	stopReading(); /* wait for the group */
//	err = chaos.ReadAll(ctx, seeds, topic, l) // the final pass
//	r := l.Check()
//	t.Logf("%s", r) // the table; r.Faults[i].Gap for the failover-time bounds
//	if err := r.Err(); err != nil { t.Fatal(err) }
//
// Seeds may name any nodes: the clients find the leaders through Metadata
// and follow leader changes themselves (NOT_LEADER_OR_FOLLOWER and friends).
// Keys are unique per record across all producers ("{name}-{producer}-{seq}")
// and every value is derived from its key, so a position read with another
// record is caught whichever reader saw it.
//
// Lost is decided by the final pass (Reader FinalReader) once ReadAll ran:
// a record the group saw that the log later dropped is lost. The fault gaps
// are defined on FaultGap. For a fault the cluster heals by itself (a leader
// killed and not restarted) call healed() right after the kill, so that the
// gap is the failover time; for one the test undoes, call it when undone. A
// restart of the victim that may move leaders back is a fault of its own
// (StartFault before it). Every driver needs its own Name (the defaults are
// "franz" and "librdkafka") so that keys stay unique.
//
// Refused writes: both clients retry NOT_ENOUGH_REPLICAS and the like by
// themselves; to see them as failures, bound a record's life
// (kgo.RecordDeliveryTimeout in ProducerConfig.Opts, message.timeout.ms in
// LibrdkafkaConfig.Config) and count them with Report.FailedWith.
//
// Everything is bounded by the contexts passed in; the drivers return once
// their context is done and what they had in flight is settled (flushed or
// recorded as failed), within their own bounded grace period.
package chaos
