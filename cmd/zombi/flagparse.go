package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagMistake is a mistake on a Go-flag command line (unknown flag, bad
// value), reported as one line with a hint instead of the whole usage.
type flagMistake struct{ msg string }

func (e flagMistake) Error() string { return e.msg }

// parseFlags parses args with fs without printing anything on a mistake:
// -h/--help prints usage to out (and returns flag.ErrHelp), a mistake is a
// flagMistake of one line ("unknown flag --bogus").
func parseFlags(fs *flag.FlagSet, args []string, out io.Writer, usage func()) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(out)
		usage()
		return err
	}
	if err != nil {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			msg = "unknown flag --" + name
		}
		return flagMistake{msg}
	}
	return nil
}

// withHint adds where the flags are listed to a flagMistake.
func withHint(err error, help string) error {
	var fm flagMistake
	if errors.As(err, &fm) {
		return fmt.Errorf("%s (%s)", fm.msg, help)
	}
	return err
}
