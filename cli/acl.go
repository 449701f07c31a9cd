package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclFlags are kafka-acls' options in short form.
type aclFlags struct {
	topics, groups, txnIDs []string
	cluster                bool
	pattern                string
	allow, deny            []string
	principal              string
	hosts                  []string
	ops                    []string
	permission             string
	all                    bool
}

type aclRow struct {
	Principal    string `json:"principal" yaml:"principal"`
	Host         string `json:"host" yaml:"host"`
	ResourceType string `json:"resource_type" yaml:"resource_type"`
	ResourceName string `json:"resource_name" yaml:"resource_name"`
	PatternType  string `json:"pattern_type" yaml:"pattern_type"`
	Operation    string `json:"operation" yaml:"operation"`
	Permission   string `json:"permission" yaml:"permission"`
}

// aclCommand: zombi acl create|list|delete, with Kafka's CreateAcls,
// DescribeAcls and DeleteAcls (works against Apache Kafka too).
func aclCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "acl", Short: "Manage Kafka ACLs (they also guard the REST API)"}

	var cf aclFlags
	create := &cobra.Command{
		Use:   "create",
		Short: "Create ACLs: every --allow/--deny principal x resource x --operation",
		Example: "  zombi acl create --allow User:alice --operation read,describe --topic orders- --pattern prefixed\n" +
			"  zombi acl create --allow User:alice --operation read --group orders-app\n" +
			"  zombi acl create --deny User:bob --operation write --topic orders",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := kmsg.NewPtrCreateACLsRequest()
			resources, err := cf.resources(false)
			if err != nil {
				return err
			}
			pattern, err := parsePattern(cf.pattern, "literal")
			if err != nil {
				return err
			}
			ops, err := parseOps(cf.ops, false)
			if err != nil {
				return err
			}
			if len(cf.allow)+len(cf.deny) == 0 {
				return usagef("give --allow or --deny principals (User:name or User:*)")
			}
			hosts := cf.hosts
			if len(hosts) == 0 {
				hosts = []string{"*"}
			}
			for _, r := range resources {
				for _, perm := range []struct {
					principals []string
					p          kmsg.ACLPermissionType
				}{{cf.allow, kmsg.ACLPermissionTypeAllow}, {cf.deny, kmsg.ACLPermissionTypeDeny}} {
					for _, pr := range perm.principals {
						for _, h := range hosts {
							for _, op := range ops {
								c := kmsg.NewCreateACLsRequestCreation()
								c.ResourceType, c.ResourceName, c.ResourcePatternType = r.typ, r.name, pattern
								c.Principal, c.Host, c.Operation, c.PermissionType = pr, h, op, perm.p
								req.Creations = append(req.Creations, c)
							}
						}
					}
				}
			}
			cl, _, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := req.RequestWith(cmd.Context(), cl)
			if err != nil {
				return fmt.Errorf("create ACLs: %w", err)
			}
			var failed []string
			for i, r := range resp.Results {
				if err := kerr.ErrorForCode(r.ErrorCode); err != nil && i < len(req.Creations) {
					c := req.Creations[i]
					failed = append(failed, fmt.Sprintf("%s %s %s on %s %s: %s", c.PermissionType, c.Principal, c.Operation, c.ResourceType, c.ResourceName, kerrMsg(err, r.ErrorMessage)))
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("create ACLs:\n  %s", strings.Join(failed, "\n  "))
			}
			fmt.Fprintf(o.stdout, "created %d ACL(s)\n", len(req.Creations))
			return nil
		},
	}
	cf.addResourceFlags(create, "literal")
	create.Flags().StringSliceVar(&cf.allow, "allow", nil, "principals to allow (User:name, User:*)")
	create.Flags().StringSliceVar(&cf.deny, "deny", nil, "principals to deny (DENY wins over ALLOW)")
	create.Flags().StringSliceVar(&cf.hosts, "host", nil, "client IP addresses the ACLs apply to (default *: all)")
	create.Flags().StringSliceVar(&cf.ops, "operation", nil, "operations: all, read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write")

	var lf aclFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List ACLs (all, or those matching the filters)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			filters, err := lf.filters()
			if err != nil {
				return err
			}
			cl, _, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			var rows []aclRow
			for _, f := range filters {
				req := kmsg.NewPtrDescribeACLsRequest()
				req.ResourceType, req.ResourceName, req.ResourcePatternType = f.ResourceType, f.ResourceName, f.ResourcePatternType
				req.Principal, req.Host, req.Operation, req.PermissionType = f.Principal, f.Host, f.Operation, f.PermissionType
				resp, err := req.RequestWith(cmd.Context(), cl)
				if err != nil {
					return fmt.Errorf("list ACLs: %w", err)
				}
				if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
					return fmt.Errorf("list ACLs: %s", kerrMsg(err, resp.ErrorMessage))
				}
				for _, r := range resp.Resources {
					for _, a := range r.ACLs {
						rows = append(rows, aclRow{a.Principal, a.Host, lower(r.ResourceType), r.ResourceName, lower(r.ResourcePatternType), lower(a.Operation), lower(a.PermissionType)})
					}
				}
			}
			return o.printACLs(rows)
		},
	}
	lf.addResourceFlags(list, "any")
	lf.addFilterFlags(list)

	var df aclFlags
	del := &cobra.Command{
		Use:   "delete",
		Short: "Delete the ACLs matching the filters (--all for every ACL)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !df.all && !df.narrowed() {
				return usagef("give a resource or --principal filter, or --all to delete every ACL")
			}
			filters, err := df.filters()
			if err != nil {
				return err
			}
			cl, _, err := o.kafka()
			if err != nil {
				return err
			}
			defer cl.Close()
			req := kmsg.NewPtrDeleteACLsRequest()
			req.Filters = filters
			resp, err := req.RequestWith(cmd.Context(), cl)
			if err != nil {
				return fmt.Errorf("delete ACLs: %w", err)
			}
			var rows []aclRow
			for _, r := range resp.Results {
				if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
					return fmt.Errorf("delete ACLs: %s", kerrMsg(err, r.ErrorMessage))
				}
				for _, a := range r.MatchingACLs {
					if err := kerr.ErrorForCode(a.ErrorCode); err != nil {
						return fmt.Errorf("delete ACLs: %s", kerrMsg(err, a.ErrorMessage))
					}
					rows = append(rows, aclRow{a.Principal, a.Host, lower(a.ResourceType), a.ResourceName, lower(a.ResourcePatternType), lower(a.Operation), lower(a.PermissionType)})
				}
			}
			if o.output == "text" {
				fmt.Fprintf(o.stdout, "deleted %d ACL(s)\n", len(rows))
				if len(rows) == 0 {
					return nil
				}
			}
			return o.printACLs(rows)
		},
	}
	df.addResourceFlags(del, "")
	df.addFilterFlags(del)
	del.Flags().BoolVar(&df.all, "all", false, "delete every ACL")

	cmd.AddCommand(create, list, del)
	return cmd
}

func (f *aclFlags) addResourceFlags(c *cobra.Command, defPattern string) {
	c.Flags().StringSliceVar(&f.topics, "topic", nil, "topic names (or prefixes with --pattern prefixed; * for all)")
	c.Flags().StringSliceVar(&f.groups, "group", nil, "consumer group ids")
	c.Flags().StringSliceVar(&f.txnIDs, "transactional-id", nil, "transactional ids")
	c.Flags().BoolVar(&f.cluster, "cluster", false, "the cluster resource")
	help := "resource pattern: literal or prefixed"
	switch defPattern {
	case "any":
		help = "resource pattern: literal, prefixed, match (all ACLs that apply to the name) or any"
	case "":
		help = "resource pattern: literal, prefixed, match or any (default: literal with a resource name, any without)"
	}
	c.Flags().StringVar(&f.pattern, "pattern", defPattern, help)
}

func (f *aclFlags) addFilterFlags(c *cobra.Command) {
	c.Flags().StringVar(&f.principal, "principal", "", "only ACLs of this principal")
	c.Flags().StringSliceVar(&f.hosts, "host", nil, "only ACLs for this host")
	c.Flags().StringSliceVar(&f.ops, "operation", nil, "only ACLs for these operations")
	c.Flags().StringVar(&f.permission, "permission", "any", "only allow or deny ACLs (any)")
}

func (f *aclFlags) narrowed() bool {
	return len(f.topics)+len(f.groups)+len(f.txnIDs) > 0 || f.cluster || f.principal != ""
}

type resource struct {
	typ  kmsg.ACLResourceType
	name string
}

func (f *aclFlags) resources(allowNone bool) ([]resource, error) {
	var rs []resource
	for _, t := range f.topics {
		rs = append(rs, resource{kmsg.ACLResourceTypeTopic, t})
	}
	for _, g := range f.groups {
		rs = append(rs, resource{kmsg.ACLResourceTypeGroup, g})
	}
	for _, x := range f.txnIDs {
		rs = append(rs, resource{kmsg.ACLResourceTypeTransactionalId, x})
	}
	if f.cluster {
		rs = append(rs, resource{kmsg.ACLResourceTypeCluster, "kafka-cluster"})
	}
	if len(rs) == 0 && !allowNone {
		return nil, usagef("give a resource: --topic, --group, --transactional-id or --cluster")
	}
	return rs, nil
}

// filters turns the flags into DescribeAcls/DeleteAcls filters: one per
// resource (or one for any resource), operation and host.
func (f *aclFlags) filters() ([]kmsg.DeleteACLsRequestFilter, error) {
	resources, err := f.resources(true)
	if err != nil {
		return nil, err
	}
	p := f.pattern
	if p == "" { // delete: exact names unless no name narrows it
		p = "literal"
		if len(resources) == 0 {
			p = "any"
		}
	}
	pattern, err := parsePattern(p, "any")
	if err != nil {
		return nil, err
	}
	ops, err := parseOps(f.ops, true)
	if err != nil {
		return nil, err
	}
	perm := kmsg.ACLPermissionTypeAny
	switch strings.ToLower(f.permission) {
	case "any", "":
	case "allow":
		perm = kmsg.ACLPermissionTypeAllow
	case "deny":
		perm = kmsg.ACLPermissionTypeDeny
	default:
		return nil, usagef("--permission must be allow, deny or any, not %q", f.permission)
	}
	var principal *string
	if f.principal != "" {
		principal = &f.principal
	}
	hosts := []*string{nil}
	if len(f.hosts) > 0 {
		hosts = hosts[:0]
		for i := range f.hosts {
			hosts = append(hosts, &f.hosts[i])
		}
	}
	if len(resources) == 0 {
		resources = []resource{{typ: kmsg.ACLResourceTypeAny}}
	}
	var out []kmsg.DeleteACLsRequestFilter
	for _, r := range resources {
		for _, op := range ops {
			for _, h := range hosts {
				fl := kmsg.NewDeleteACLsRequestFilter()
				fl.ResourceType, fl.ResourcePatternType = r.typ, pattern
				if r.typ != kmsg.ACLResourceTypeAny {
					name := r.name
					fl.ResourceName = &name
				}
				fl.Principal, fl.Host, fl.Operation, fl.PermissionType = principal, h, op, perm
				out = append(out, fl)
			}
		}
	}
	return out, nil
}

func parsePattern(s, def string) (kmsg.ACLResourcePatternType, error) {
	if s == "" {
		s = def
	}
	switch strings.ToLower(s) {
	case "literal":
		return kmsg.ACLResourcePatternTypeLiteral, nil
	case "prefixed":
		return kmsg.ACLResourcePatternTypePrefixed, nil
	case "match":
		if def == "any" {
			return kmsg.ACLResourcePatternTypeMatch, nil
		}
	case "any":
		if def == "any" {
			return kmsg.ACLResourcePatternTypeAny, nil
		}
	}
	return 0, usagef("invalid --pattern %q", s)
}

func parseOps(names []string, filter bool) ([]kmsg.ACLOperation, error) {
	if len(names) == 0 {
		if filter {
			return []kmsg.ACLOperation{kmsg.ACLOperationAny}, nil
		}
		return nil, usagef("give --operation (read, write, describe, ... or all)")
	}
	var ops []kmsg.ACLOperation
	for _, n := range names {
		op, err := kmsg.ParseACLOperation(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(n)), "-", "_"))
		if err != nil || op == kmsg.ACLOperationUnknown || (!filter && op == kmsg.ACLOperationAny) {
			return nil, usagef("unknown operation %q", n)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func (o *options) printACLs(rows []aclRow) error {
	t := table{header: []string{"PRINCIPAL", "HOST", "RESOURCE", "NAME", "PATTERN", "OPERATION", "PERMISSION"}, values: rows}
	if rows == nil {
		t.values = []aclRow{}
	}
	for _, r := range rows {
		t.rows = append(t.rows, []string{r.Principal, r.Host, r.ResourceType, r.ResourceName, r.PatternType, r.Operation, r.Permission})
	}
	return o.print(t)
}

func lower(v fmt.Stringer) string { return strings.ToLower(v.String()) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// kerrMsg is one line for a Kafka error: the code's name with the broker's
// own message when it sent one ("TOPIC_ALREADY_EXISTS: topic already exists:
// t1"), else kerr's description of the code; never both glued together.
func kerrMsg(err error, msg *string) string {
	m := strings.Join(strings.Fields(deref(msg)), " ")
	var ke *kerr.Error
	switch {
	case m == "":
		return oneLine(err.Error())
	case errors.As(err, &ke) && strings.HasPrefix(m, ke.Message):
		return m
	case errors.As(err, &ke):
		return ke.Message + ": " + m
	case strings.Contains(err.Error(), m):
		return oneLine(err.Error())
	}
	return oneLine(err.Error() + ": " + m)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var _ kmsg.Requestor = (*kgo.Client)(nil)
