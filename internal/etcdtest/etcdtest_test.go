package etcdtest

import (
	"net/http"
	"testing"
)

func healthy(e *Etcd) bool {
	resp, err := http.Get(e.Endpoint + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestStartStopRestart: a real etcd answers, is gone when stopped, and comes
// back on the same endpoint.
func TestStartStopRestart(t *testing.T) {
	e := Start(t)
	if !healthy(e) {
		t.Fatal("etcd not healthy after Start")
	}
	e.Stop()
	if healthy(e) {
		t.Fatal("etcd still answers after Stop")
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	if !healthy(e) {
		t.Fatal("etcd not healthy after restart")
	}
}
