package cli

import (
	"bufio"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// userCommand: zombi user create|delete|list, with Kafka's
// AlterUserScramCredentials and DescribeUserScramCredentials (so it works
// against Apache Kafka too). Passwords never leave the client: it sends the
// salt and the salted password, as kafka-configs does.
func userCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage SASL/SCRAM users (also HTTP Basic on Zombi)"}
	var (
		password      string
		passwordStdin bool
		mechanisms    []string
		iterations    int32
	)
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user, or set the password of an existing one",
		Long: "Create a user, or set the password of an existing one: a SCRAM credential per mechanism\n" +
			"(both SCRAM-SHA-256 and SCRAM-SHA-512 by default), made from the password on this machine.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(o, password, passwordStdin)
			if err != nil {
				return err
			}
			mechs, err := parseMechanisms(mechanisms)
			if err != nil {
				return err
			}
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			// One request per mechanism: Kafka refuses a user named twice
			// in one request (DUPLICATE_RESOURCE), as kafka-configs finds.
			for _, m := range mechs {
				up := kadm.UpsertSCRAM{User: args[0], Mechanism: m, Iterations: iterations, Password: pw}
				res, err := adm.AlterUserSCRAMs(cmd.Context(), nil, []kadm.UpsertSCRAM{up})
				if err != nil {
					return fmt.Errorf("create user %s: %w", args[0], err)
				}
				if err := alterErr(res); err != nil {
					return fmt.Errorf("create user %s: %w", args[0], err)
				}
			}
			fmt.Fprintf(o.stdout, "user %s: %s\n", args[0], mechNames(mechs))
			return nil
		},
	}
	create.Flags().StringVar(&password, "new-password", "", "the user's password (prefer --new-password-stdin: flags show in ps)")
	create.Flags().BoolVar(&passwordStdin, "new-password-stdin", false, "read the user's password from the first line of stdin")
	create.Flags().StringSliceVar(&mechanisms, "mechanism", []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}, "SCRAM mechanisms to make credentials for")
	create.Flags().Int32Var(&iterations, "iterations", 4096, "SCRAM iterations (Kafka accepts 4096 to 16384)")

	var delMechs []string
	del := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete users (all their credentials, or those of --mechanism)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mechs, err := parseMechanisms(delMechs)
			if err != nil {
				return err
			}
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			if !cmd.Flags().Changed("mechanism") {
				// Only the credentials that exist: deleting a missing one is
				// an error in Kafka's API.
				described, err := adm.DescribeUserSCRAMs(cmd.Context(), args...)
				if err != nil {
					return fmt.Errorf("delete users: %w", err)
				}
				if err := described.Error(); err != nil {
					return fmt.Errorf("delete users: %w", err)
				}
				var dels []kadm.DeleteSCRAM
				for _, u := range args {
					for _, ci := range described[u].CredInfos {
						dels = append(dels, kadm.DeleteSCRAM{User: u, Mechanism: ci.Mechanism})
					}
				}
				return runDeletes(cmd, o, adm, dels, args)
			}
			var dels []kadm.DeleteSCRAM
			for _, u := range args {
				for _, m := range mechs {
					dels = append(dels, kadm.DeleteSCRAM{User: u, Mechanism: m})
				}
			}
			return runDeletes(cmd, o, adm, dels, args)
		},
	}
	del.Flags().StringSliceVar(&delMechs, "mechanism", []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}, "delete only these mechanisms' credentials")

	list := &cobra.Command{
		Use:   "list [NAME...]",
		Short: "List users and the SCRAM mechanisms they have credentials for",
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, adm, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			described, err := adm.DescribeUserSCRAMs(cmd.Context(), args...)
			if err != nil {
				return fmt.Errorf("list users: %w", err)
			}
			if err := described.Error(); err != nil {
				return fmt.Errorf("list users: %w", err)
			}
			type cred struct {
				Mechanism  string `json:"mechanism" yaml:"mechanism"`
				Iterations int32  `json:"iterations" yaml:"iterations"`
			}
			type user struct {
				Name        string `json:"name" yaml:"name"`
				Credentials []cred `json:"credentials" yaml:"credentials"`
			}
			t := table{header: []string{"USER", "MECHANISMS"}}
			users := []user{}
			for _, d := range described.Sorted() {
				u := user{Name: d.User, Credentials: []cred{}}
				var names []string
				for _, ci := range d.CredInfos {
					u.Credentials = append(u.Credentials, cred{ci.Mechanism.String(), ci.Iterations})
					names = append(names, ci.Mechanism.String()+"("+strconv.Itoa(int(ci.Iterations))+")")
				}
				sort.Strings(names)
				users = append(users, u)
				t.rows = append(t.rows, []string{d.User, strings.Join(names, ",")})
			}
			t.values = users
			return o.print(t)
		},
	}
	cmd.AddCommand(create, del, list)
	return cmd
}

func runDeletes(cmd *cobra.Command, o *options, adm *kadm.Client, dels []kadm.DeleteSCRAM, users []string) error {
	if len(dels) == 0 {
		return fmt.Errorf("delete users: no credentials found for %s", strings.Join(users, ", "))
	}
	// One request per credential: a user may be named once per request.
	for _, d := range dels {
		res, err := adm.AlterUserSCRAMs(cmd.Context(), []kadm.DeleteSCRAM{d}, nil)
		if err != nil {
			return fmt.Errorf("delete users: %w", err)
		}
		if err := alterErr(res); err != nil {
			return fmt.Errorf("delete users: %w", err)
		}
	}
	for _, u := range users {
		fmt.Fprintf(o.stdout, "deleted user %s\n", u)
	}
	return nil
}

func alterErr(res kadm.AlteredUserSCRAMs) error {
	var errs []error
	for _, r := range res.Sorted() {
		if r.Err != nil {
			msg := r.Err.Error()
			if r.ErrMessage != "" {
				msg += ": " + r.ErrMessage
			}
			errs = append(errs, fmt.Errorf("user %s: %s", r.User, msg))
		}
	}
	return errors.Join(errs...)
}

func readPassword(o *options, flagValue string, fromStdin bool) (string, error) {
	switch {
	case fromStdin && flagValue != "":
		return "", usagef("give --new-password or --new-password-stdin, not both")
	case fromStdin:
		line, err := bufio.NewReader(o.stdin).ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if err != nil {
				return "", fmt.Errorf("read password from stdin: %w", err)
			}
			return "", usagef("empty password on stdin")
		}
		return line, nil
	case flagValue == "":
		return "", usagef("the new user's password is needed: --new-password-stdin or --new-password")
	}
	return flagValue, nil
}

func parseMechanisms(names []string) ([]kadm.ScramMechanism, error) {
	var out []kadm.ScramMechanism
	for _, n := range names {
		switch strings.ToUpper(strings.TrimSpace(n)) {
		case "SCRAM-SHA-256":
			out = append(out, kadm.ScramSha256)
		case "SCRAM-SHA-512":
			out = append(out, kadm.ScramSha512)
		default:
			return nil, usagef("unknown SCRAM mechanism %q (SCRAM-SHA-256 or SCRAM-SHA-512)", n)
		}
	}
	if len(out) == 0 {
		return nil, usagef("--mechanism needs at least one mechanism")
	}
	return out, nil
}

func mechNames(ms []kadm.ScramMechanism) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.String())
	}
	return strings.Join(s, ", ")
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d (see --help)", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s needs at least %d argument(s) (see --help)", cmd.CommandPath(), n)
		}
		return nil
	}
}
