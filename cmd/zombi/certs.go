package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/zombi-dev/zombi/tlsconf"
)

const certsUsage = `Usage:
  zombi certs dev --out DIR [--host H]... [--client-cn CN] [--force]

Writes a development CA (ca.pem, ca-key.pem), a server certificate
(server.pem, server-key.pem; SAN 127.0.0.1, ::1, localhost and each --host)
and a client certificate (client.pem, client-key.pem; CN --client-cn,
default "client"), ECDSA P-256, valid one year. Keys are written 0600.
For development and tests only: use your own CA in production.
`

// hostList is a repeatable --host flag.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }
func (h *hostList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*h = append(*h, s)
		}
	}
	return nil
}

// certsCommand runs "zombi certs dev ...".
func certsCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "dev" {
		fmt.Fprint(stderr, certsUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet("certs dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, certsUsage) }
	out := fs.String("out", "", "directory to write the files to (created if missing)")
	clientCN := fs.String("client-cn", "client", "common name of the client certificate (principal User:<CN> on SSL listeners)")
	force := fs.Bool("force", false, "overwrite existing files")
	var hosts hostList
	fs.Var(&hosts, "host", "extra host name or IP address for the server certificate (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "zombi certs dev: --out DIR is required")
		return 2
	}
	if !*force {
		for _, name := range []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem"} {
			if _, err := os.Stat(filepath.Join(*out, name)); err == nil {
				fmt.Fprintf(stderr, "zombi certs dev: %s already exists (use --force to overwrite)\n", filepath.Join(*out, name))
				return 1
			}
		}
	}
	f, err := tlsconf.WriteDevCerts(*out, tlsconf.DevOptions{Hosts: hosts, ClientCN: *clientCN})
	if err != nil {
		fmt.Fprintln(stderr, "zombi certs dev:", err)
		return 1
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	fmt.Fprintf(stdout, "wrote %s (CA certificate: clients trust it, e.g. ssl.ca.location)\n", abs(f.CA))
	fmt.Fprintf(stdout, "wrote %s (CA key: keep it private)\n", abs(f.CAKey))
	fmt.Fprintf(stdout, "wrote %s, %s (server; SAN %s)\n", abs(f.Cert), abs(f.Key), strings.Join(append(append([]string{}, tlsconf.DefaultHosts...), hosts...), ", "))
	fmt.Fprintf(stdout, "wrote %s, %s (client; CN %s)\n", abs(f.ClientCert), abs(f.ClientKey), *clientCN)
	fmt.Fprintf(stdout, "\nserver settings:\n  %s=%s\n  %s=%s\n  %s=%s   # with %s=requested or required\n",
		tlsconf.EnvCertFile, abs(f.Cert), tlsconf.EnvKeyFile, abs(f.Key), tlsconf.EnvClientCAFile, abs(f.CA), tlsconf.EnvClientAuth)
	return 0
}
