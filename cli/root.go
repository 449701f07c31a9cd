// Package cli holds Zombi's command-line programs (cobra): the commands that
// talk to a running server over the Kafka protocol (franz-go's kgo and kadm,
// so they work against any Kafka broker too) or the REST API. main adds the
// commands that live with the server (serve, bench, segments, certs) through
// Execute's extra commands.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Execute runs the command line args (without the program name) and returns
// the process exit status: 0 on success, 1 on a failure, 2 on a usage error.
// extra are more top-level commands (main's serve, bench, segments, certs).
// With a command named "serve" among them, a command line without a command
// (nothing, or only flags that are not the tree's: `zombi -port 9000`) runs
// serve.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer, extra ...*cobra.Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdin, stdout, stderr)
	for _, c := range extra {
		if c.PersistentPreRunE == nil && c.PersistentPreRun == nil {
			// The connection flags' checks are not theirs.
			c.PersistentPreRunE = func(*cobra.Command, []string) error { return nil }
		}
		root.AddCommand(c)
	}
	// The help and completion commands cobra adds on Execute are added
	// now, so that they refuse unknown arguments as the others do.
	root.InitDefaultCompletionCmd()
	if comp, _, err := root.Find([]string{"completion"}); err == nil && comp != root {
		comp.Args = func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for \"zombi completion\": no completion for that shell (bash, zsh, fish or powershell)", args[0])
			}
			return nil
		}
	}
	root.SetHelpCommand(helpCommand(root))
	for _, c := range root.Commands() {
		groupsRefuseUnknown(c)
	}
	root.SetArgs(defaultCommand(root, args))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec) // the command said why itself
	}
	fmt.Fprintln(stderr, "zombi:", err)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	return 1
}

// defaultCommand rewrites a command line without a command into serve's,
// and the single-dash spellings the Go flag package accepted before cobra.
func defaultCommand(root *cobra.Command, args []string) []string {
	if serve, _, err := root.Find([]string{"serve"}); err != nil || serve == root {
		return args
	}
	if len(args) == 0 {
		return []string{"serve"}
	}
	switch args[0] {
	case "-version":
		return append([]string{"--version"}, args[1:]...)
	case "-help":
		return append([]string{"--help"}, args[1:]...)
	case "-v":
		// zombi --help lists -v, --version: serve has no -v.
		return append([]string{"--version"}, args[1:]...)
	case "-h", "--help", "--version":
		return args
	}
	if !strings.HasPrefix(args[0], "-") {
		return args
	}
	// Flags first: the tree's connection flags before a command
	// (`zombi --brokers b topic list`), else serve's settings.
	if c, _, err := root.Find(args); err == nil && c != root {
		return args
	}
	return append([]string{"serve"}, args...)
}

// helpCommand is cobra's help command, except that help for an unknown
// command is a usage error (cobra prints "Unknown help topic" and exits 0).
func helpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help provides help for any command in the application.\nSimply type zombi help [path to command] for full details.",
		RunE: func(_ *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err != nil || cmd == nil || len(rest) > 0 {
				return usagef("unknown command %q for help (zombi --help lists the commands)", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := root.Find(args)
			if err != nil || cmd == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
	}
}

// groupsRefuseUnknown makes every command group (topic, group, ...) fail
// with a usage error on an unknown subcommand: cobra would print the help and
// exit 0. Alone, a group prints its help.
func groupsRefuseUnknown(c *cobra.Command) {
	if !c.HasSubCommands() {
		return
	}
	if c.Run == nil && c.RunE == nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return cmd.Help()
		}
	}
	for _, sub := range c.Commands() {
		groupsRefuseUnknown(sub)
	}
}

// ExitCode is the error of a command that already reported its failure
// itself: Execute returns code (0 is success) and prints nothing more.
func ExitCode(code int) error {
	if code == 0 {
		return nil
	}
	return exitCode(code)
}

type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Passthrough is a command that parses its own arguments (the Go flag
// package's -name value): run gets everything after the command's name, and
// `zombi help NAME` runs it with --help.
func Passthrough(use, short string, run func(args []string, stdout, stderr io.Writer) int) *cobra.Command {
	c := &cobra.Command{
		Use:                use,
		Short:              short,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return ExitCode(run(args, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	c.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
		run([]string{"--help"}, cmd.OutOrStdout(), cmd.OutOrStdout())
	})
	return c
}

// usageError marks a mistake on the command line (exit status 2).
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

const rootLong = `Zombi: a Kafka-compatible event store on RocksDB with an S3 cold tier.

Without a command, zombi runs the server (zombi serve): its settings are
flags or environment variables (ZOMBI_DATA_DIR, ZOMBI_PORT, ZOMBI_KAFKA_PORT,
ZOMBI_KAFKA_LISTENERS, ZOMBI_S3_BUCKET, ...), all listed by zombi serve --help.

The other commands talk to a running server: the Kafka commands (topic,
produce, consume, group, cluster, user, acl) over the Kafka protocol, so they
work against any Kafka broker too; health, token and iceberg over the REST API.`

// newRoot builds the command tree.
func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	o := &options{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "zombi",
		Short:         "Zombi: a Kafka-compatible event store on RocksDB with an S3 cold tier",
		Long:          rootLong,
		Version:       Build().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	o.addFlags(root)
	root.AddCommand(topicCommand(o), produceCommand(o), consumeCommand(o), groupCommand(o), clusterCommand(o),
		userCommand(o), aclCommand(o), tokenCommand(o), versionCommand(o), healthCommand(o), icebergCommand(o), nodeCommand(o))
	return root
}
