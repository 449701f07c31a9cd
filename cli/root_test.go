package cli

import (
	"bytes"
	"errors"
	"io"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
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

// Usage mistakes exit 2 with one clear line; -v is --version.
func TestUsageMistakesExit2(t *testing.T) {
	serve := Passthrough("serve", "run", func(args []string, stdout, _ io.Writer) int {
		io.WriteString(stdout, "SERVE RAN\n")
		return 0
	})
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Execute(args, strings.NewReader(""), &out, &errb, serve)
		return code, out.String(), errb.String()
	}
	if code, out, errs := run("-v"); code != 0 || !strings.HasPrefix(out, "zombi ") || strings.Contains(out, "SERVE") {
		t.Errorf("zombi -v: exit %d, %q %q", code, out, errs)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help", "bogus"}, `unknown command "bogus"`},
		{[]string{"help", "topic", "bogus"}, `unknown command "topic bogus"`},
		{[]string{"completion", "tcsh"}, `unknown command "tcsh" for "zombi completion": no completion for that shell`},
		{[]string{"consume", "t1", "--format="}, "--format is empty"},
		{[]string{"--timeout", "0", "topic", "list"}, "--timeout 0s is too short"},
		{[]string{"topic", "list", "--timeout", "50ms"}, "--timeout 50ms is too short"},
	} {
		code, out, errs := run(tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("zombi %v: exit %d, stderr %q (want exit 2 and one line with %q), stdout %q", tc.args, code, errs, tc.want, out)
		}
	}
	if code, out, _ := run("help", "topic"); code != 0 || !strings.Contains(out, "add-partitions") {
		t.Errorf("zombi help topic: exit %d\n%s", code, out)
	}
	if code, out, _ := run("help"); code != 0 || !strings.Contains(out, "consume") {
		t.Errorf("zombi help: exit %d\n%s", code, out)
	}
	if code, out, _ := run("completion", "bash"); code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("zombi completion bash: exit %d, %.80q", code, out)
	}
}

// A Kafka error reads as its code with the broker's message, or kerr's
// description without one: never both glued together.
func TestKerrMsg(t *testing.T) {
	msg := func(s string) *string { return &s }
	for _, tc := range []struct {
		err  error
		msg  *string
		want string
	}{
		{kerr.TopicAlreadyExists, msg("topic already exists: t1"), "TOPIC_ALREADY_EXISTS: topic already exists: t1"},
		{kerr.TopicAlreadyExists, nil, kerr.TopicAlreadyExists.Error()},
		{kerr.TopicAlreadyExists, msg("  "), kerr.TopicAlreadyExists.Error()},
		{kerr.InvalidConfig, msg("TOPIC_ALREADY_EXISTS... no;\nretention.ms must be >= -1"), "INVALID_CONFIG: TOPIC_ALREADY_EXISTS... no; retention.ms must be >= -1"},
		{kerr.InvalidConfig, msg("INVALID_CONFIG: bad"), "INVALID_CONFIG: bad"},
		{errors.New("dial: refused"), msg("x"), "dial: refused: x"},
	} {
		if got := kerrMsg(tc.err, tc.msg); got != tc.want {
			t.Errorf("kerrMsg(%v, %v) = %q, want %q", tc.err, deref(tc.msg), got, tc.want)
		}
	}
}

// The root's connection flags before a passthrough command reach it as its
// own arguments (zombi --brokers B bench MODE: bench reads --brokers).
func TestRootFlagsReachPassthrough(t *testing.T) {
	var got []string
	bench := Passthrough("bench", "b", func(args []string, _, _ io.Writer) int { got = args; return 0 })
	var out, errb bytes.Buffer
	code := Execute([]string{"--brokers", "localhost:29092", "bench", "kafka-produce", "--acks", "none"}, strings.NewReader(""), &out, &errb, bench)
	if code != 0 || strings.Join(got, " ") != "--brokers localhost:29092 kafka-produce --acks none" {
		t.Fatalf("exit %d, bench got %q, stderr %q", code, got, errb.String())
	}
}

// A plain go build's version comes from the toolchain's build info.
func TestBuildFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got := buildFrom("", "", "", bi).String(); got != "zombi v1.2.3 (commit abc123-dirty, built 2026-12-01T10:00:00Z, go1.99)" {
		t.Errorf("from build info: %q", got)
	}
	// The ldflags win; (devel) is no version.
	bi.Main.Version = "(devel)"
	if got := buildFrom("v9", "fff", "today", bi).String(); got != "zombi v9 (commit fff, built today, go1.99)" {
		t.Errorf("stamped: %q", got)
	}
	if got := buildFrom("", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}); got.Version != "dev" || got.Commit != "unknown" || got.Date != "unknown" {
		t.Errorf("nothing recorded: %+v", got)
	}
	if got := buildFrom("", "", "", nil); got.Version != "dev" || got.Commit != "unknown" {
		t.Errorf("no build info: %+v", got)
	}
}
