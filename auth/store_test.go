package auth

import (
	"testing"

	plog "github.com/zombi-dev/zombi/log"
)

// The same checks on both Stores.
func TestStores(t *testing.T) {
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for name, st := range map[string]Store{"mem": NewMemStore(), "log": LogStore(l)} {
		t.Run(name, func(t *testing.T) {
			if v, err := st.Get("auth/none"); err != nil || v != nil {
				t.Fatalf("Get of an absent key: %q %v", v, err)
			}
			v := []byte("value")
			for _, k := range []string{"auth/b/2", "auth/a", "auth/b/1", "other"} {
				if err := st.Put(k, v); err != nil {
					t.Fatal(err)
				}
			}
			v[0] = 'X' // the store kept its own copy
			if got, err := st.Get("auth/a"); err != nil || string(got) != "value" {
				t.Fatalf("Get = %q %v", got, err)
			}
			kvs, err := st.List("auth/b/")
			if err != nil || len(kvs) != 2 || kvs[0].Key != "auth/b/1" || kvs[1].Key != "auth/b/2" || string(kvs[1].Value) != "value" {
				t.Fatalf("List = %v %v", kvs, err)
			}
			if err := st.Delete("auth/b/1"); err != nil {
				t.Fatal(err)
			}
			if err := st.Delete("auth/b/1"); err != nil {
				t.Fatalf("deleting an absent key: %v", err)
			}
			if kvs, _ := st.List("auth/"); len(kvs) != 2 {
				t.Fatalf("after Delete: %v", kvs)
			}
		})
	}
}
