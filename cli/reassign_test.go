package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Usage mistakes of topic reassign and node decommission: exit 2, one
// line, before any connection (no broker listens on the port given).
func TestReassignUsageMistakes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notJSON := write("bad.json", "{")
	v2 := write("v2.json", `{"version":2,"partitions":[{"topic":"t","partition":0,"replicas":[1]}]}`)
	empty := write("empty.json", `{"version":1,"partitions":[]}`)
	noReplicas := write("norep.json", `{"version":1,"partitions":[{"topic":"t","partition":0}]}`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic", "reassign", "t"}, "needs one of --replicas"},
		{[]string{"topic", "reassign", "t", "--replicas", "1,2"}, "needs TOPIC and --partition P"},
		{[]string{"topic", "reassign", "t", "-p", "0", "--replicas", "1,x"}, `--replicas "1,x": node ids are comma separated`},
		{[]string{"topic", "reassign", "t", "-p", "0", "--replicas", "1,-2"}, "node ids are comma separated non-negative"},
		{[]string{"topic", "reassign", "t", "-p", "0", "--replicas", "1", "--status"}, "needs one of"},
		{[]string{"topic", "reassign", "t", "--plan", v2}, "give no TOPIC"},
		{[]string{"topic", "reassign", "--plan", notJSON}, "not kafka-reassign-partitions JSON"},
		{[]string{"topic", "reassign", "--plan", v2}, "version 2, want 1"},
		{[]string{"topic", "reassign", "--plan", empty}, "no partitions"},
		{[]string{"topic", "reassign", "--plan", noReplicas}, "needs a topic, a partition >= 0 and replicas"},
		{[]string{"node", "decommission", "x"}, `node id "x"`},
		{[]string{"node", "decommission"}, "takes 1 argument(s), got 0"},
	} {
		var out, errb bytes.Buffer
		code := Execute(append([]string{"--brokers", "127.0.0.1:1"}, tc.args...), strings.NewReader(""), &out, &errb)
		if errs := errb.String(); code != 2 || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("zombi %v: exit %d, stderr %q (want exit 2 and one line with %q)", tc.args, code, errs, tc.want)
		}
	}
}
