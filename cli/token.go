package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// tokenInfo is a bearer token as the REST API describes it.
type tokenInfo struct {
	ID          string    `json:"id" yaml:"id"`
	Owner       string    `json:"owner" yaml:"owner"`
	Description string    `json:"description,omitempty" yaml:"description,omitempty"`
	Created     time.Time `json:"created" yaml:"created"`
	Expires     time.Time `json:"expires,omitzero" yaml:"expires,omitempty"`
}

// tokenCommand: zombi token create|list|revoke, over the REST API
// (/auth/tokens), authenticated with --user (HTTP Basic).
func tokenCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage bearer tokens for the REST API"}
	var (
		description string
		ttl         time.Duration
		owner       string
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token (printed once: only its hash is stored)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl < 0 {
				return usagef("--ttl must not be negative")
			}
			body := map[string]any{"description": description, "ttl_secs": int64(ttl / time.Second)}
			if owner != "" {
				body["owner"] = owner
			}
			var out struct {
				Token string `json:"token"`
				tokenInfo
			}
			if err := o.call(cmd.Context(), http.MethodPost, "/auth/tokens", body, &out); err != nil {
				return fmt.Errorf("create token: %w", err)
			}
			if o.output == "text" {
				fmt.Fprintln(o.stdout, out.Token)
				fmt.Fprintf(o.stderr, "token %s for %s: use it as 'Authorization: Bearer <token>'; it is not shown again\n", out.ID, out.Owner)
				return nil
			}
			return o.print(table{values: map[string]any{"token": out.Token, "id": out.ID, "owner": out.Owner,
				"description": out.Description, "created": out.Created, "expires": out.Expires}})
		},
	}
	create.Flags().StringVar(&description, "description", "", "what the token is for")
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime, e.g. 720h (0: no expiry)")
	create.Flags().StringVar(&owner, "owner", "", "make the token for another principal (needs ALTER on the cluster)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (yours; all with DESCRIBE on the cluster)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Tokens []tokenInfo `json:"tokens"`
			}
			if err := o.call(cmd.Context(), http.MethodGet, "/auth/tokens", nil, &out); err != nil {
				return fmt.Errorf("list tokens: %w", err)
			}
			t := table{header: []string{"ID", "OWNER", "CREATED", "EXPIRES", "DESCRIPTION"}, values: out.Tokens}
			if out.Tokens == nil {
				t.values = []tokenInfo{}
			}
			for _, tk := range out.Tokens {
				exp := "never"
				if !tk.Expires.IsZero() {
					exp = tk.Expires.UTC().Format(time.RFC3339)
				}
				t.rows = append(t.rows, []string{tk.ID, tk.Owner, tk.Created.UTC().Format(time.RFC3339), exp, tk.Description})
			}
			return o.print(t)
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID...",
		Short: "Revoke tokens",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, id := range args {
				if err := o.call(cmd.Context(), http.MethodDelete, "/auth/tokens/"+url.PathEscape(id), nil, nil); err != nil {
					return fmt.Errorf("revoke token %s: %w", id, err)
				}
				fmt.Fprintf(o.stdout, "revoked token %s\n", id)
			}
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// call sends one REST request and decodes a 2xx JSON answer into out; other
// statuses become errors carrying the API's {"error": ...} message.
func (o *options) call(ctx context.Context, method, path string, in, out any) error {
	hc, err := o.httpClient()
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(o.api, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s", resp.Status)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode %s answer: %w", path, err)
	}
	return nil
}
