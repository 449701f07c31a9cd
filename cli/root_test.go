package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// A command line without a command is serve's; flags of the tree before a
// command are not.
func TestDefaultCommandIsServe(t *testing.T) {
	var got []string
	serve := Passthrough("serve", "run", func(args []string, stdout, _ io.Writer) int {
		got = append([]string{"serve"}, args...)
		if len(args) > 0 && args[0] == "--help" {
			io.WriteString(stdout, "SERVE SETTINGS\n")
			return 0
		}
		if len(args) > 0 && args[0] == "-bad" {
			return 2
		}
		return 0
	})
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Execute(args, strings.NewReader(""), &out, &errb, serve)
		return code, out.String(), errb.String()
	}
	for _, tc := range []struct {
		args []string
		want string // what serve received, "" when it did not run
	}{
		{nil, "serve"},
		{[]string{"-port", "9000"}, "serve -port 9000"},
		{[]string{"--data-dir", "x", "--kafka-port=9093"}, "serve --data-dir x --kafka-port=9093"},
		{[]string{"serve", "-port", "1"}, "serve -port 1"},
		{[]string{"--brokers", "127.0.0.1:1", "version"}, ""},
		{[]string{"version"}, ""},
	} {
		got = nil
		if code, out, errs := run(tc.args...); code != 0 || strings.Join(got, " ") != tc.want {
			t.Errorf("zombi %v: exit %d, serve got %q, want %q\n%s%s", tc.args, code, got, tc.want, out, errs)
		}
	}
	// Exit statuses of a passthrough command are kept, without a message.
	if code, _, errs := run("-bad"); code != 2 || errs != "" {
		t.Errorf("serve exiting 2: Execute returned %d, stderr %q", code, errs)
	}
	// help serve is serve's own help.
	if code, out, _ := run("help", "serve"); code != 0 || out != "SERVE SETTINGS\n" {
		t.Errorf("zombi help serve: exit %d, %q", code, out)
	}
	for _, v := range []string{"--version", "-version"} {
		if code, out, _ := run(v); code != 0 || !strings.HasPrefix(out, "zombi ") {
			t.Errorf("zombi %s: exit %d, %q", v, code, out)
		}
	}
	if code, out, _ := run("--help"); code != 0 || !strings.Contains(out, "serve") || !strings.Contains(out, "consume") {
		t.Errorf("zombi --help: exit %d\n%s", code, out)
	}
	// An unknown subcommand is a usage error, not the group's help.
	if code, _, errs := run("topic", "nosuch"); code != 2 || !strings.Contains(errs, `unknown command "nosuch"`) {
		t.Errorf("zombi topic nosuch: exit %d, %q", code, errs)
	}
	if code, out, _ := run("group"); code != 0 || !strings.Contains(out, "seek") {
		t.Errorf("zombi group: exit %d\n%s", code, out)
	}
}
