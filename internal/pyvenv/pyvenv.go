// Package pyvenv gives the end-to-end tests a Python virtual environment
// installed from a requirements file of this repository with pip, through
// scripts/pyvenv.sh: made once per machine outside git
// (~/.cache/zombi/venv-<hash>), re-made when the file changes.
package pyvenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Venv is a ready virtual environment.
type Venv struct {
	Dir string // the environment's directory
}

// Python is the environment's interpreter.
func (v Venv) Python() string { return filepath.Join(v.Dir, "bin", "python") }

// Pip is the interpreter with `-m pip`: the environment's own pip.
func (v Venv) Pip() []string { return []string{v.Python(), "-m", "pip", "--disable-pip-version-check"} }

// errNoPython is scripts/pyvenv.sh's exit status 3: no python3 on PATH.
var errNoPython = errors.New("no python3")

// Ensure makes (or reuses) the environment of the requirements files, given
// relative to the repository root. A cold start downloads from PyPI (about
// 30 s); later ones take well under a second.
func Ensure(requirements ...string) (Venv, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(Root(), "scripts", "pyvenv.sh"), requirements...)
	cmd.Dir = Root()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		return Venv{}, fmt.Errorf("%w: %s", errNoPython, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return Venv{}, fmt.Errorf("scripts/pyvenv.sh %s: %w\n%s", strings.Join(requirements, " "), err, stderr.String())
	}
	return Venv{Dir: strings.TrimSpace(stdout.String())}, nil
}

// EnsureT is Ensure for a test: it skips the test where there is no
// python3 and fails it when the environment cannot be made (no network for
// a cold start, a requirement pip cannot install).
func EnsureT(t testing.TB, requirements ...string) Venv {
	t.Helper()
	v, err := Ensure(requirements...)
	if errors.Is(err, errNoPython) {
		t.Skipf("Python virtual environment: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}
