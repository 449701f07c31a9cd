// Package chaos is the workload and the checker of the fault tests (issue
// 19 point 8): idempotent acks=all producers (franz-go and librdkafka), a
// consumer group reading throughout, a final read of every partition, and a
// checker that reports what was acknowledged, lost, duplicated, reused or
// misplaced and, per fault, the longest time without an acknowledgement on
// the victim's partitions.
//
// A test with a cluster harness uses it like this:
//
//	l := chaos.NewLedger()
//	seeds := []string{n1.KafkaAddr, n2.KafkaAddr, n3.KafkaAddr}
//	chaos.EnsureTopic(ctx, seeds, topic, 3, 3, map[string]*string{"min.insync.replicas": &two})
//	work, stop := context.WithCancel(ctx)
//	var wg errgroup.Group (or sync.WaitGroup)
//	wg.Go(func() error { return chaos.RunFranzProducers(work, chaos.ProducerConfig{Seeds: seeds, Topic: topic, Producers: 2, Rate: 200}, l) })
//	wg.Go(func() error { return chaos.RunLibrdkafkaProducer(work, chaos.LibrdkafkaConfig{Python: venv.Python(), Seeds: seeds, Topic: topic, Rate: 200}, l) })
//	wg.Go(func() error { return chaos.RunGroup(work, chaos.GroupConfig{Seeds: seeds, Topic: topic, Group: "g", Members: 2}, l) })
//	// each fault: the victim's partitions are those it leads (kadm Metadata)
//	healed := l.StartFault("kill leader of p0", 0, 2)
//	victim.Kill(); ...; victim, _ = victim.Restart()
//	healed()                     // or at once, for a kill the cluster heals by itself
//	...
//	chaos.WaitCaughtUp(ctx, l, "g", 15*time.Second) // the group went on
//	stop(); wg.Wait()
//	chaos.ReadAll(ctx, seeds, topic, l)              // the final pass
//	r := l.Check(); t.Log(r); if err := r.Err(); err != nil { t.Fatal(err) }
//
// Seeds may name any nodes: the clients find the leaders through Metadata
// and follow leader changes themselves (NOT_LEADER_OR_FOLLOWER and friends).
// Keys are unique per record across all producers ("{name}-{producer}-{seq}")
// and every value is derived from its key, so a position read with another
// record is caught whichever reader saw it.
//
// Lost is decided by the final pass (Reader FinalReader) once ReadAll ran:
// a record the group saw that the log later dropped is lost. The fault gaps
// are defined on FaultGap; for a fault the cluster heals by itself (a leader
// killed and not restarted) call healed() right after the kill, so the gap is
// the failover time; for one the test undoes, call it when undone.
//
// Everything is bounded by the contexts passed in; the drivers return once
// their context is done and what they had in flight is settled (flushed or
// recorded as failed), within their own bounded grace period.
package chaos
