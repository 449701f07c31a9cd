package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"github.com/zombi-dev/zombi/internal/pyvenv"
)

// The matrix's other clients (security_clients_test.go): sarama in
// process, and kcat (librdkafka), the Python clients and kafkajs as
// processes.

// saramaSCRAM adapts xdg-go/scram to sarama's SCRAMClient.
type saramaSCRAM struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *saramaSCRAM) Begin(user, pass, authzID string) error {
	c, err := s.hash.NewClient(user, pass, authzID)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *saramaSCRAM) Done() bool                            { return s.conv.Done() }

// saramaSecRun is sarama (protocol version 2.1, SaslHandshake v1 and
// SaslAuthenticate): a sync producer with acks=all and a partition
// consumer; a refused client's NewClient must fail with
// ErrSASLAuthenticationFailed.
func saramaSecRun(ctx context.Context, b secBroker, c secCase, topic, _ string, values []string) secRun {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_1_0_0
	cfg.ClientID = "zombi-security-sarama"
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 10*time.Second, 10*time.Second, 10*time.Second
	cfg.Metadata.Retry.Max, cfg.Metadata.Retry.Backoff = 2, 200*time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	if c.mech != "" {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Handshake = true
		cfg.Net.SASL.Version = sarama.SASLHandshakeV1
		cfg.Net.SASL.Mechanism = sarama.SASLMechanism(c.mech)
		cfg.Net.SASL.User, cfg.Net.SASL.Password = c.user, c.pass
		switch c.mech {
		case sarama.SASLTypeSCRAMSHA256:
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: scram.SHA256} }
		case sarama.SASLTypeSCRAMSHA512:
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: scram.SHA512} }
		}
	}
	if c.proto == protoSSL || c.proto == protoSASLSSL {
		tc, err := certs.tlsConfig(c.cert)
		if err != nil {
			return secRun{err: err}
		}
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tc
	}
	client, err := sarama.NewClient([]string{b.listeners[c.proto]}, cfg)
	if c.refused {
		if err == nil {
			client.Close()
			return secRun{err: nil}
		}
		return secRun{err: err, authErr: errors.Is(err, sarama.ErrSASLAuthenticationFailed)}
	}
	if err != nil {
		return secRun{err: fmt.Errorf("sarama client: %w", err)}
	}
	defer client.Close()
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return secRun{err: err}
	}
	defer prod.Close()
	var msgs []*sarama.ProducerMessage
	for _, v := range values {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)})
	}
	if err := prod.SendMessages(msgs); err != nil {
		return secRun{err: fmt.Errorf("produce: %w", err)}
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return secRun{err: err}
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return secRun{err: fmt.Errorf("consume: %w", err)}
	}
	defer pc.Close()
	var got []string
	for len(got) < len(values) {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case e := <-pc.Errors():
			return secRun{values: got, err: fmt.Errorf("consume: %w", e)}
		case <-ctx.Done():
			return secRun{values: got, err: fmt.Errorf("consumed %d of %d: %w", len(got), len(values), ctx.Err())}
		}
	}
	return secRun{values: got}
}

// runClient runs a client process under ctx and returns its stdout; err
// includes stderr.
func runClient(ctx context.Context, dir, stdin string, name string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	return o.String(), e.String(), err
}

// kcatNewMissing: kcat on the wheel's librdkafka needs kcat and python3
// (the venv holds the wheel).
func kcatNewMissing() string {
	if m := kcatMissing(); m != "" {
		return m
	}
	return pypiMissing()
}

func kcatMissing() string {
	if _, err := exec.LookPath("kcat"); err != nil {
		return "kcat not on PATH (Debian package kcat)"
	}
	return ""
}

// kcatSecArgs are librdkafka's settings for case c.
func kcatSecArgs(b secBroker, c secCase) []string {
	args := []string{"-b", b.listeners[c.proto], "-X", "security.protocol=" + strings.ToLower(c.proto)}
	if c.mech != "" {
		args = append(args, "-X", "sasl.mechanisms="+c.mech, "-X", "sasl.username="+c.user, "-X", "sasl.password="+c.pass)
	}
	if c.proto == protoSSL || c.proto == protoSASLSSL {
		// librdkafka 2.x checks the host name (ssl.endpoint.identification.algorithm=https).
		args = append(args, "-X", "ssl.ca.location="+certs.CA)
		if c.cert {
			args = append(args, "-X", "ssl.certificate.location="+certs.ClientCert, "-X", "ssl.key.location="+certs.ClientKey)
		}
	}
	return args
}

// kcatLibrdkafka is the librdkafka version kcat -V names ("" if unknown).
var kcatLibrdkafka = sync.OnceValue(func() string {
	out, _ := exec.Command("kcat", "-V").CombinedOutput()
	m := regexp.MustCompile(`librdkafka (\d+\.\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		return ""
	}
	return string(m[1])
})

// scramNonceBug says why librdkafka before 2.6.1 cannot authenticate with
// SCRAM to a strict server ("" when it can): it sends the client nonce
// twice in the client-final-message (confluentinc/librdkafka#4895). Kafka
// 4 refuses that proof since CVE-2024-56128 (RFC 5802's nonce check), and
// so must Zombi.
func scramNonceBug(librdkafka string) string {
	var a, b, c int
	if _, err := fmt.Sscanf(librdkafka, "%d.%d.%d", &a, &b, &c); err != nil {
		return ""
	}
	if a > 2 || a == 2 && (b > 6 || b == 6 && c >= 1) {
		return ""
	}
	return "librdkafka " + librdkafka + " sends a wrong nonce in its SCRAM client-final-message (fixed in 2.6.1, " +
		"confluentinc/librdkafka#4895); Kafka 4 refuses it since CVE-2024-56128, and so must Zombi"
}

// kcatSecRun is kcat (librdkafka): -P then -C; a refused kcat -L must exit
// non-zero after logging librdkafka's SASL authentication error.
func kcatSecRun(ctx context.Context, b secBroker, c secCase, topic, group string, values []string) secRun {
	return kcatRunWith("", kcatLibrdkafka())(ctx, b, c, topic, group, values)
}

// kcatNewLibrdkafka is Debian's kcat on the librdkafka of the
// confluent-kafka wheel (2.16: SCRAM works there), through
// LD_LIBRARY_PATH: what a user of kcat with a current librdkafka runs.
func kcatNewLibrdkafka(ctx context.Context, b secBroker, c secCase, topic, group string, values []string) secRun {
	dir, err := wheelLibrdkafkaDir()
	if err != nil {
		return secRun{err: err}
	}
	return kcatRunWith(dir, "2.16.0")(ctx, b, c, topic, group, values)
}

// wheelLibrdkafkaDir is a directory whose librdkafka.so.1 is the wheel's
// (auditwheel renames it librdkafka-HASH.so.1).
var wheelLibrdkafkaDir = sync.OnceValues(func() (string, error) {
	v, err := pypiVenv()
	if err != nil {
		return "", err
	}
	libs, _ := filepath.Glob(filepath.Join(v.Dir, "lib", "python3*", "site-packages", "confluent_kafka.libs", "librdkafka-*.so.1"))
	if len(libs) != 1 {
		return "", fmt.Errorf("librdkafka of the confluent-kafka wheel in %s: found %d", v.Dir, len(libs))
	}
	dir, err := os.MkdirTemp("", "zombi-librdkafka-")
	if err != nil {
		return "", err
	}
	return dir, os.Symlink(libs[0], filepath.Join(dir, "librdkafka.so.1"))
})

// kcatRunWith runs kcat with LD_LIBRARY_PATH=libDir ("": the system's
// librdkafka, of version librdkafka).
func kcatRunWith(libDir, librdkafka string) func(ctx context.Context, b secBroker, c secCase, topic, _ string, values []string) secRun {
	return func(ctx context.Context, b secBroker, c secCase, topic, _ string, values []string) secRun {
		return kcatRun(ctx, libDir, librdkafka, b, c, topic, values)
	}
}

func kcatRun(ctx context.Context, libDir, librdkafka string, b secBroker, c secCase, topic string, values []string) secRun {
	runClient := func(ctx context.Context, dir, stdin string, name string, args ...string) (string, string, error) {
		if libDir != "" { // timeout SECS env LD_LIBRARY_PATH=... kcat ...
			args = append([]string{args[0], "env", "LD_LIBRARY_PATH=" + libDir}, args[1:]...)
		}
		return runClient(ctx, dir, stdin, name, args...)
	}
	args := kcatSecArgs(b, c)
	var bug string
	if strings.HasPrefix(c.mech, "SCRAM-") {
		bug = scramNonceBug(librdkafka)
	}
	if c.refused || bug != "" {
		_, stderr, err := runClient(ctx, "", "", "timeout", append([]string{"25", "kcat", "-L", "-m", "5"}, args...)...)
		if err == nil {
			return secRun{output: stderr, refusedBecause: bug}
		}
		return secRun{err: fmt.Errorf("%w: %s", err, firstAuthLine(stderr)), output: stderr,
			authErr: strings.Contains(stderr, "SASL authentication error"), refusedBecause: bug}
	}
	_, stderr, err := runClient(ctx, "", strings.Join(values, "\n")+"\n", "timeout",
		append([]string{"30", "kcat", "-P", "-t", topic, "-p", "0", "-X", "acks=all"}, args...)...)
	if err != nil {
		return secRun{err: fmt.Errorf("produce: %w", err), output: stderr}
	}
	stdout, stderr, err := runClient(ctx, "", "", "timeout",
		append([]string{"30", "kcat", "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-c", fmt.Sprint(len(values)), "-f", "%s\n"}, args...)...)
	if err != nil {
		return secRun{err: fmt.Errorf("consume: %w", err), output: stderr}
	}
	got := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if stdout == "" {
		got = nil
	}
	return secRun{values: got, output: stderr}
}

// firstAuthLine is the first line of a client's log that mentions
// authentication, or its first line.
func firstAuthLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(strings.ToLower(l), "authentication") {
			return strings.TrimSpace(l)
		}
	}
	return firstLine(s)
}

// The Python clients run compat-tests/python/security_client.py: the PyPI
// ones (confluent-kafka 2.16.1, kafka-python 3.0.12) in the venv of
// requirements.txt, Debian's kafka-python 2.0.2 (SaslHandshake v0 and raw
// SASL tokens) with /usr/bin/python3.

var pyVenv struct {
	once sync.Once
	venv pyvenv.Venv
	err  error
}

func pypiVenv() (pyvenv.Venv, error) {
	pyVenv.once.Do(func() { pyVenv.venv, pyVenv.err = pyvenv.Ensure("compat-tests/python/requirements.txt") })
	return pyVenv.venv, pyVenv.err
}

// pypiMissing skips the PyPI clients only where there is no python3 (as
// pyvenv.EnsureT): a venv that cannot be made fails their runs.
func pypiMissing() string {
	if _, err := exec.LookPath("python3"); err != nil {
		return "Python clients from PyPI: no python3 on PATH"
	}
	return ""
}

func debianKafkaPythonMissing() string {
	if err := exec.Command("/usr/bin/python3", "-c", "import kafka; assert kafka.__version__ == '2.0.2', kafka.__version__").Run(); err != nil {
		return "Debian's kafka-python 2.0.2 is not installed (python3-kafka): " + err.Error()
	}
	return ""
}

// pySecResult is security_client.py's output.
type pySecResult struct {
	Version   string   `json:"version"`
	Values    []string `json:"values"`
	Error     string   `json:"error"`
	AuthError bool     `json:"auth_error"`
	Log       string   `json:"log"`
}

// pySecRun runs security_client.py with lib: confluent, kafka-python-pypi
// or kafka-python-debian.
func pySecRun(lib string) func(ctx context.Context, b secBroker, c secCase, topic, group string, values []string) secRun {
	return func(ctx context.Context, b secBroker, c secCase, topic, group string, values []string) secRun {
		python := "/usr/bin/python3"
		if lib != "kafka-python-debian" {
			v, err := pypiVenv()
			if err != nil {
				return secRun{err: err}
			}
			python = v.Python()
		}
		script, _ := filepath.Abs(filepath.Join("python", "security_client.py"))
		dir, err := os.MkdirTemp("", "zombi-sec-py-")
		if err != nil {
			return secRun{err: err}
		}
		defer os.RemoveAll(dir)
		return scriptSecRun(ctx, dir, python, script, lib, b, c, topic, group, values)
	}
}

// scriptSecRun runs a client script with one JSON argument describing the
// case and reads its JSON result (pySecResult's form).
func scriptSecRun(ctx context.Context, dir, interp, script, lib string, b secBroker, c secCase, topic, group string, values []string) secRun {
	conf := map[string]any{
		"lib": lib, "bootstrap": b.listeners[c.proto], "protocol": c.proto, "mechanism": c.mech,
		"username": c.user, "password": c.pass, "topic": topic, "group": group, "values": values,
		"refused": c.refused,
	}
	if c.proto == protoSSL || c.proto == protoSASLSSL {
		conf["ca"] = certs.CA
		if c.cert {
			conf["cert"], conf["key"] = certs.ClientCert, certs.ClientKey
		}
	}
	arg, _ := json.Marshal(conf)
	stdout, stderr, err := runClient(ctx, dir, "", interp, script, string(arg))
	output := strings.TrimSpace(stdout + "\n" + stderr)
	var res pySecResult
	if jerr := json.Unmarshal([]byte(stdout), &res); jerr != nil {
		if err == nil {
			err = jerr
		}
		return secRun{err: fmt.Errorf("%s: %w", filepath.Base(script), err), output: output}
	}
	if res.Log != "" {
		output = res.Version + "\n" + res.Log + "\n" + stderr
	}
	r := secRun{values: res.Values, authErr: res.AuthError, output: output}
	if res.Error != "" {
		r.err = errors.New(res.Error)
	} else if err != nil {
		r.err = err
	}
	return r
}

func kafkajsMissing() string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node not installed"
	}
	if _, err := os.Stat(filepath.Join("kafkajs", "node_modules", "kafkajs")); err != nil {
		return "kafkajs is not installed: run `npm ci` in compat-tests/kafkajs (make test does)"
	}
	return ""
}

// kafkajsSecRun runs compat-tests/kafkajs/security.js (kafkajs 2.2.4): a
// producer (acks=-1) and a consumer group; a refused admin.connect() must
// throw KafkaJSSASLAuthenticationError.
func kafkajsSecRun(ctx context.Context, b secBroker, c secCase, topic, group string, values []string) secRun {
	dir, _ := filepath.Abs("kafkajs")
	return scriptSecRun(ctx, dir, "node", "security.js", "kafkajs", b, c, topic, group, values)
}
