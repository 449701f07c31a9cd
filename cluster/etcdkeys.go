package cluster

// Every etcd call of the package is here, over the key layout of
// cluster/meta/records.go under Config.Prefix(), so that it can move
// behind meta.Store later. Each call has a deadline; each change of
// shared state is a transaction conditional on what was read.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zombi-dev/zombi/cluster/meta"
)

const (
	nodesPrefix      = meta.NodesPrefix
	partitionsPrefix = meta.PartitionsPrefix
	topicsPrefix     = meta.TopicsPrefix
	controllerPrefix = meta.ControllerPrefix
)

// callTimeout bounds one etcd round trip (a read, a transaction).
const callTimeout = 5 * time.Second

func nodeKey(prefix string, id int32) string {
	return prefix + nodesPrefix + strconv.FormatInt(int64(id), 10)
}

func partitionKey(prefix, topic string, p int32) string {
	return prefix + partitionsPrefix + topic + "/" + strconv.FormatInt(int64(p), 10)
}

// parsePartitionKey splits prefix+partitions/{topic}/{p}. Kafka topic
// names hold no '/', so the last one separates the partition number.
func parsePartitionKey(prefix, key string) (topic string, p int32, ok bool) {
	rest, found := strings.CutPrefix(key, prefix+partitionsPrefix)
	if !found {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(rest[i+1:], 10, 32)
	if err != nil || n < 0 {
		return "", 0, false
	}
	return rest[:i], int32(n), true
}

// registerNode creates key with rec under lease if the key is absent. When
// it is present, ok is false and holder is the key as it is.
func registerNode(ctx context.Context, cli *clientv3.Client, key string, rec meta.NodeRecord, lease clientv3.LeaseID) (ok bool, holder *mvccpb.KeyValue, err error) {
	val, err := json.Marshal(rec)
	if err != nil {
		return false, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val), clientv3.WithLease(lease))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return false, nil, fmt.Errorf("register %s: %w", key, err)
	}
	if resp.Succeeded {
		return true, nil, nil
	}
	if rr := resp.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
		return false, rr.Kvs[0], nil
	}
	return false, nil, nil // deleted meanwhile: the caller tries again
}

// grant asks for a lease of ttl seconds, bounded in time.
func grant(ctx context.Context, cli *clientv3.Client, ttl int64) (clientv3.LeaseID, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := cli.Grant(ctx, ttl)
	if err != nil {
		return 0, fmt.Errorf("grant a lease of %d s: %w", ttl, err)
	}
	return resp.ID, nil
}

// revoke ends a lease (its keys go at once), bounded in time.
func revoke(cli *clientv3.Client, lease clientv3.LeaseID) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := cli.Revoke(ctx, lease)
	return err
}

// listPrefix reads every key under prefix and the revision it was read at.
func listPrefix(ctx context.Context, cli *clientv3.Client, prefix string) ([]*mvccpb.KeyValue, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	return resp.Kvs, resp.Header.Revision, nil
}

// watchPrefix watches prefix from revision from on. WithRequireLeader: a
// member cut off from its cluster ends the watch instead of going silent.
func watchPrefix(ctx context.Context, cli *clientv3.Client, prefix string, from int64) clientv3.WatchChan {
	return cli.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(from))
}

// errNotController: the fence of a controller write failed, another node
// was elected meanwhile.
var errNotController = errors.New("cluster: no longer the controller")

// fence is the condition every controller write carries: its election key
// still exists with the revision it was created at (Kafka's controller
// epoch check), so a deposed controller changes nothing.
type fence struct {
	key string
	rev int64
}

func (f fence) cmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev)
}

// casPartition writes st at key if the key's ModRevision is still modRev
// and the fence holds. When it does not, cur is the key as it is now (nil:
// absent) and err is errNotController if the fence failed.
func casPartition(ctx context.Context, cli *clientv3.Client, f fence, key string, modRev int64, st meta.PartitionState) (ok bool, cur *mvccpb.KeyValue, err error) {
	val, err := json.Marshal(st)
	if err != nil {
		return false, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev), f.cmp()).
		Then(clientv3.OpPut(key, string(val))).
		Else(clientv3.OpGet(key), clientv3.OpGet(f.key)).
		Commit()
	if err != nil {
		return false, nil, fmt.Errorf("write %s: %w", key, err)
	}
	if resp.Succeeded {
		return true, nil, nil
	}
	if fr := resp.Responses[1].GetResponseRange(); fr == nil || len(fr.Kvs) == 0 || fr.Kvs[0].CreateRevision != f.rev {
		return false, nil, errNotController
	}
	if rr := resp.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
		return false, rr.Kvs[0], nil
	}
	return false, nil, nil
}

// getKey reads one key (nil when absent).
func getKey(ctx context.Context, cli *clientv3.Client, key string) (*mvccpb.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0], nil
}
