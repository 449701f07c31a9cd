package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// seedRequests are well-formed requests of every implemented API at a few
// versions: the fuzzer mutates their frames.
func seedRequests() []kmsg.Request {
	var out []kmsg.Request
	add := func(r kmsg.Request, versions ...int16) {
		for _, v := range versions {
			c := kmsg.RequestForKey(r.Key())
			// Re-encode r at version v, then decode into c to copy it.
			r.SetVersion(v)
			c.SetVersion(v)
			if err := c.ReadFrom(r.AppendTo(nil)); err == nil {
				out = append(out, c)
			}
		}
	}
	topic := "fz"
	add(produceReq(topic, 0, -1, mkBatch("a", "b")), 3, 7, 9, 12)
	add(produceReq(topic, 0, 0, mkIdemBatch(1, 0, 0, "x")), 9)
	add(fetchReq(topic, 0, 0, 1, 10), 4, 11, 12, 13, 18)
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Timestamp: -1, MaxNumOffsets: 1}, {Timestamp: 1}}}}
	add(lo, 0, 1, 7, 11)
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: &topic}}
	md.AllowAutoTopicCreation = true
	add(md, 0, 1, 4, 9, 12, 13)
	add(kmsg.NewPtrApiVersionsRequest(), 0, 3, 5)
	add(commitReq("g", topic, 0, 1), 0, 2, 8, 10)
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = "g"
	of.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	of.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{0}}}}}
	add(of, 1, 6, 8, 10)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorKeys = "g", []string{"g"}
	add(fc, 0, 3, 4, 6)
	add(createReq(false, ct("fz2", 2, 1)), 0, 5, 7)
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"fz2"}
	add(dt, 0, 5)
	add(kmsg.NewPtrInitProducerIDRequest(), 0, 2, 4, 5)
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic}}
	add(dc, 0, 4)
	ac := kmsg.NewPtrAlterConfigsRequest()
	rv := "3600000"
	ac.Resources = []kmsg.AlterConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic, Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: &rv}}},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1", Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "x"}}},
	}
	add(ac, 0, 2)
	iac := kmsg.NewPtrIncrementalAlterConfigsRequest()
	iac.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic, Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{
		{Name: "retention.ms", Op: kmsg.IncrementalAlterConfigOpSet, Value: &rv}, {Name: "segment.ms", Op: kmsg.IncrementalAlterConfigOpDelete},
		{Name: "cleanup.policy", Op: kmsg.IncrementalAlterConfigOpAppend, Value: &rv}, {Name: "retention.ms", Op: 9},
	}}}
	add(iac, 0, 1)
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: topic, Count: 2}}
	add(cp, 0, 3)
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: topic, Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Offset: 0}}}}
	add(dr, 0, 2)
	add(kmsg.NewPtrDescribeClusterRequest(), 0, 2)
	ole := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ole.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{LeaderEpoch: 0}}}}
	add(ole, 0, 4)
	// The ACL and SCRAM credential APIs.
	dacl := kmsg.NewPtrDescribeACLsRequest()
	dacl.ResourceType, dacl.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeMatch
	dacl.ResourceName, dacl.Operation, dacl.PermissionType = &topic, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	add(dacl, 0, 1, 3)
	cacl := kmsg.NewPtrCreateACLsRequest()
	cacl.Creations = []kmsg.CreateACLsRequestCreation{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "fz-",
		ResourcePatternType: kmsg.ACLResourcePatternTypePrefixed, Principal: "User:fz", Host: "*",
		Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow}}
	add(cacl, 0, 1, 3)
	delacl := kmsg.NewPtrDeleteACLsRequest()
	delacl.Filters = []kmsg.DeleteACLsRequestFilter{{ResourceType: kmsg.ACLResourceTypeAny, ResourcePatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny}}
	add(delacl, 0, 1, 3)
	dsc := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	dsc.Users = []kmsg.DescribeUserSCRAMCredentialsRequestUser{{Name: "fz"}}
	add(dsc, 0)
	asc := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	asc.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{{Name: "fz", Mechanism: 1, Iterations: 4096, Salt: []byte("s"), SaltedPassword: make([]byte, 32)}}
	asc.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "fy", Mechanism: 2}}
	add(asc, 0)
	return append(out, unsupportedSeeds()...)
}

// FuzzRequest feeds arbitrary request frames (everything after the size)
// to the decoder and the handlers of a server on a real log. Nothing may
// panic; a response must be a well-formed frame.
func FuzzRequest(f *testing.F) {
	for i, r := range seedRequests() {
		f.Add(frame(r, int32(i))[4:])
	}
	// With the authorizer on, so that the ACL paths are fuzzed too: requests
	// act as User:<client id>; with no ACL everyone may do everything until
	// a fuzzed CreateAcls adds one; "test" (the seeds' client id) is a
	// superuser.
	principalByClientID.Store(true)
	f.Cleanup(func() { principalByClientID.Store(false) })
	svc, err := auth.Open(auth.NewMemStore(), auth.Config{Authorization: true, AllowEveryoneIfNoACL: true, Superusers: []string{"test"}})
	if err != nil {
		f.Fatal(err)
	}
	cfg := testConfig()
	cfg.MaxRequestBytes = 1 << 20
	cfg.Auth = svc
	e := startServer(f, cfg)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		watchdog := time.AfterFunc(5*time.Second, func() {
			panic(fmt.Sprintf("request hangs: %q", data))
		})
		defer watchdog.Stop()
		out, err := e.s.process(ctx, data)
		if err != nil || out == nil {
			return
		}
		if len(out) < 8 || int(binary.BigEndian.Uint32(out)) != len(out)-4 {
			t.Fatalf("malformed response frame of %d bytes", len(out))
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzRequest from the seeds
// when ZOMBI_WRITE_FUZZ_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("ZOMBI_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set ZOMBI_WRITE_FUZZ_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRequest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, r := range seedRequests() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", frame(r, int32(i))[4:])
		name := fmt.Sprintf("seed-%02d-%s-v%d", i, kmsg.NameForKey(r.Key()), r.GetVersion())
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
