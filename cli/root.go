// Package cli holds Zombi's command-line programs (cobra): the commands that
// talk to a running server over the Kafka protocol (franz-go's kgo and kadm,
// so they work against any Kafka broker too) or the REST API. main only wires
// them up.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Commands lists the top-level commands this package serves, for main's
// dispatch.
var Commands = []string{"user", "acl", "token", "version", "health"}

// Execute runs the command line args (without the program name) and returns
// the process exit status: 0 on success, 1 on a failure, 2 on a usage error.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "zombi:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError marks a mistake on the command line (exit status 2).
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// newRoot builds the command tree.
func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	o := &options{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "zombi",
		Short:         "Zombi: a Kafka-compatible event store on RocksDB with an S3 cold tier",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	o.addFlags(root)
	root.AddCommand(userCommand(o), aclCommand(o), tokenCommand(o), versionCommand(o), healthCommand(o))
	return root
}
