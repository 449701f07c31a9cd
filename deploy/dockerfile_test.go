package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/zombitest"
)

// There is no Docker engine on these machines: the Dockerfile is read as
// text here, and scripts/check-runtime-image.sh runs its runtime stage in a
// debootstrap root where that is possible.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd, Args string
}

// dockerStages reads the Dockerfile: the instructions before the first FROM
// (global ARGs) and one list per stage.
func dockerStages(t *testing.T) (global []instruction, stages [][]instruction) {
	t.Helper()
	b, err := os.ReadFile(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.HasSuffix(strings.TrimRight(l, " \t"), "\\") {
			line += strings.TrimSuffix(strings.TrimRight(l, " \t"), "\\") + " "
			continue
		}
		line += l
		if f := strings.Fields(line); len(f) > 0 {
			in := instruction{Cmd: strings.ToUpper(f[0]), Args: strings.TrimSpace(line[len(f[0]):])}
			if in.Cmd == "FROM" {
				stages = append(stages, nil)
			}
			if len(stages) == 0 {
				global = append(global, in)
			} else {
				stages[len(stages)-1] = append(stages[len(stages)-1], in)
			}
		}
		line = ""
	}
	return global, stages
}

// labelRe reads LABEL key="value" pairs.
var labelRe = regexp.MustCompile(`([a-z0-9.\-]+)="((?:[^"\\]|\\.)*)"`)

// healthcheck returns the runtime stage's HEALTHCHECK options and its CMD as
// an exec array.
func healthcheck(t *testing.T, stage []instruction) (opts map[string]string, cmd []string) {
	t.Helper()
	var hc []instruction
	for _, in := range stage {
		if in.Cmd == "HEALTHCHECK" {
			hc = append(hc, in)
		}
	}
	if len(hc) != 1 {
		t.Fatalf("runtime stage has %d HEALTHCHECK instructions, want 1", len(hc))
	}
	opts = map[string]string{}
	rest := hc[0].Args
	for strings.HasPrefix(rest, "--") {
		f, r, _ := strings.Cut(rest, " ")
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		opts[k] = v
		rest = strings.TrimSpace(r)
	}
	exec, ok := strings.CutPrefix(rest, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %q: want CMD [...]", hc[0].Args)
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(exec)), &cmd); err != nil {
		t.Fatalf("HEALTHCHECK CMD %s: want the exec (JSON array) form: %v", exec, err)
	}
	return opts, cmd
}

func TestDockerfileLabelsAndHealthcheck(t *testing.T) {
	global, stages := dockerStages(t)
	if len(stages) != 2 {
		t.Fatalf("%d stages, want build and runtime", len(stages))
	}
	build, runtime := stages[0], stages[1]
	globalArgs := map[string]string{}
	for _, in := range global {
		if in.Cmd != "ARG" {
			t.Errorf("%s before the first FROM: only ARG belongs there", in.Cmd)
		}
		k, v, _ := strings.Cut(in.Args, "=")
		globalArgs[k] = v
	}
	stageArgs := func(stage []instruction) map[string]bool {
		out := map[string]bool{}
		for _, in := range stage {
			if in.Cmd == "ARG" {
				k, _, _ := strings.Cut(in.Args, "=")
				out[k] = true
			}
		}
		return out
	}

	// OCI labels, with every ${ARG} they use declared in the stage (an ARG
	// from before FROM is empty in a stage that does not re-declare it).
	labels := map[string]string{}
	rtArgs := stageArgs(runtime)
	for _, in := range runtime {
		if in.Cmd != "LABEL" {
			continue
		}
		for _, m := range labelRe.FindAllStringSubmatch(in.Args, -1) {
			labels[m[1]] = m[2]
		}
	}
	for _, k := range []string{"title", "description", "source", "licenses", "version", "revision", "created"} {
		v := labels["org.opencontainers.image."+k]
		if v == "" {
			t.Errorf("no LABEL org.opencontainers.image.%s", k)
			continue
		}
		for _, m := range regexp.MustCompile(`\$\{?([A-Z_]+)`).FindAllStringSubmatch(v, -1) {
			if !rtArgs[m[1]] {
				t.Errorf("label %s uses $%s, not declared (ARG) in the runtime stage", k, m[1])
			}
			if _, ok := globalArgs[m[1]]; !ok {
				t.Errorf("label %s uses $%s, which has no default (ARG before FROM)", k, m[1])
			}
		}
	}
	if !strings.HasPrefix(labels["org.opencontainers.image.source"], "https://github.com/zombi-dev/zombi") {
		t.Errorf("source label %q", labels["org.opencontainers.image.source"])
	}
	if !strings.Contains(labels["org.opencontainers.image.version"], "${VERSION}") ||
		!strings.Contains(labels["org.opencontainers.image.revision"], "${REVISION}") {
		t.Errorf("version and revision labels should come from the VERSION and REVISION build args: %v", labels)
	}

	// The build stage stamps zombi version as make build does.
	var stamped bool
	bArgs := stageArgs(build)
	for _, in := range build {
		if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
			for _, v := range []string{"cli.Version=${VERSION}", "cli.Commit=${REVISION}", "cli.Date=${BUILD_DATE}"} {
				if !strings.Contains(in.Args, v) {
					t.Errorf("go build does not set %s", v)
				}
			}
			stamped = true
		}
	}
	if !stamped || !bArgs["VERSION"] || !bArgs["REVISION"] || !bArgs["BUILD_DATE"] {
		t.Errorf("the build stage must declare VERSION, REVISION, BUILD_DATE and use them in go build (%v)", bArgs)
	}

	// HEALTHCHECK runs zombi health, with its own timeout below Docker's.
	opts, cmd := healthcheck(t, runtime)
	joined := strings.Join(cmd, " ")
	if !strings.Contains(joined, "/usr/local/bin/zombi health") {
		t.Fatalf("HEALTHCHECK CMD %q does not run zombi health", joined)
	}
	dockerTimeout, err := time.ParseDuration(opts["timeout"])
	if err != nil {
		t.Fatalf("HEALTHCHECK --timeout %q: %v", opts["timeout"], err)
	}
	m := regexp.MustCompile(`--timeout[ =](\S+)`).FindStringSubmatch(joined)
	if m == nil {
		t.Fatal("zombi health without --timeout: its default (30s) outlives Docker's")
	}
	if own, err := time.ParseDuration(m[1]); err != nil || own >= dockerTimeout {
		t.Errorf("zombi health --timeout %s is not below HEALTHCHECK --timeout %s", m[1], dockerTimeout)
	}
	for _, k := range []string{"interval", "start-period", "retries"} {
		if opts[k] == "" {
			t.Errorf("HEALTHCHECK without --%s", k)
		}
	}
}

// TestDockerfileHealthcheckRuns runs the HEALTHCHECK command as the image
// would (its ENV, the binary at /usr/local/bin/zombi replaced by the one
// built here) against a real Zombi: exit 0 while it serves, non-zero once
// it is gone, and ZOMBI_API wins over the port.
func TestDockerfileHealthcheckRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	_, stages := dockerStages(t)
	runtime := stages[len(stages)-1]
	_, cmd := healthcheck(t, runtime)
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	for i := range cmd {
		cmd[i] = strings.ReplaceAll(cmd[i], "/usr/local/bin/zombi", bin)
	}
	p := zombitest.StartT(t, filepath.Join(t.TempDir(), "data"))
	port := p.HTTPBase[strings.LastIndex(p.HTTPBase, ":")+1:]

	run := func(env ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
		// The image's environment: no ZOMBI_API unless a test sets it.
		c.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		if ctx.Err() != nil {
			t.Fatalf("healthcheck %v did not finish in 10s", cmd)
		}
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String()
	}
	if code, out := run("ZOMBI_PORT=" + port); code != 0 || !strings.Contains(out, "healthy") {
		t.Fatalf("healthcheck against a serving Zombi on ZOMBI_PORT=%s: exit %d %q", port, code, out)
	}
	free, err := zombitest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if code, out := run("ZOMBI_PORT=" + strconv.Itoa(free)); code == 0 {
		t.Fatalf("healthcheck against nothing: exit 0 %q", out)
	}
	if code, out := run("ZOMBI_PORT="+strconv.Itoa(free), "ZOMBI_API="+p.HTTPBase); code != 0 {
		t.Fatalf("healthcheck with ZOMBI_API=%s: exit %d %q", p.HTTPBase, code, out)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if code, out := run("ZOMBI_PORT=" + port); code == 0 {
		t.Fatalf("healthcheck after kill -9: exit 0 %q", out)
	}
}
