package coordlog

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// The log is the view.
var _ MetaReader = (*plog.Log)(nil)

// memView is a MetaReader over a map.
type memView struct {
	kv  map[string][]byte
	err error
}

func (m memView) Meta(key string) ([]byte, error) { return m.kv[key], m.err }
func (m memView) MetaList(prefix string) ([]plog.MetaKV, error) {
	var out []plog.MetaKV
	for k, v := range m.kv {
		if strings.HasPrefix(k, prefix) {
			out = append(out, plog.MetaKV{Key: k, Value: v})
		}
	}
	return out, m.err
}

func TestDecodeFromReadsPendingOfTheView(t *testing.T) {
	o := plog.CommittedOffset{Group: "g", Topic: "t", Partition: 2, Offset: 9, LeaderEpoch: 1, CommitTimeMs: 3}
	view := memView{kv: map[string][]byte{PendingKey(7, 77): EncodePending([]plog.CommittedOffset{o}), PendingKey(70, 1): []byte("[]")}}
	commit := stored(0, batch.Marker(77, 0, true, 1, nowMs))
	ch, err := DecodeFrom(Group, 7, []plog.Batch{commit}, view)
	if err != nil || !reflect.DeepEqual(ch.Offsets, []plog.CommittedOffset{o}) || len(ch.Meta) != 1 || ch.Meta[0].Value != nil {
		t.Fatalf("commit from the view: %+v %v", ch, err)
	}
	got, err := PendingIn(view, 7)
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[77], []plog.CommittedOffset{o}) {
		t.Fatalf("PendingIn: %+v %v", got, err)
	}
	// An unreadable view or entry is an error, never an empty list.
	bad := memView{kv: map[string][]byte{PendingKey(7, 77): []byte("{")}}
	if _, err := DecodeFrom(Group, 7, []plog.Batch{commit}, bad); err == nil {
		t.Fatal("a corrupt pending entry was taken as none")
	}
	if _, err := PendingIn(bad, 7); err == nil {
		t.Fatal("PendingIn of a corrupt entry")
	}
	down := memView{err: errors.New("storage down")}
	if _, err := DecodeFrom(Group, 7, []plog.Batch{commit}, down); err == nil {
		t.Fatal("a failed read was taken as none")
	}
}
