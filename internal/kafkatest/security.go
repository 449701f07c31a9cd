package kafkatest

import (
	"fmt"
	"sort"
	"strings"
)

// Security configures Apache Kafka the way a secured Zombi is configured
// (DESIGN.md "Security"), so that the same scenario can run against both:
// extra listeners, PEM certificates, SASL users, the StandardAuthorizer.
// Args gives the arguments for Start (server.properties lines and kafka.sh
// options).
type Security struct {
	// Listeners maps a protocol (SSL, SASL_PLAINTEXT, SASL_SSL) to the
	// HOST:PORT Kafka listens on and advertises for it. The PLAINTEXT
	// listener and the controller stay as kafka.sh makes them.
	Listeners map[string]string
	// Keystore is a PEM file with the server's private key (PKCS#8,
	// unencrypted) and its certificate chain; Truststore the CA
	// certificates client certificates are checked against.
	Keystore, Truststore string
	// ClientAuth is ssl.client.auth: none, requested or required.
	ClientAuth string
	// Users maps user names to passwords: PLAIN users in the listeners'
	// JAAS configuration, SCRAM-SHA-256 and SCRAM-SHA-512 credentials
	// written when the storage is formatted.
	Users map[string]string
	// SuperUsers are user names that bypass ACLs (super.users).
	SuperUsers []string
}

// Args returns the arguments for Start.
//
// Two choices keep Kafka comparable to Zombi: an SSL client's principal is
// User:<certificate CN> (Kafka's default is the whole distinguished name),
// and User:ANONYMOUS is a super user too, because the controller and
// inter-broker listeners are PLAINTEXT: the broker itself is ANONYMOUS and
// must pass the authorizer. So Kafka's PLAINTEXT listener is open to every
// client, as it was before (the other compat tests use it unchanged).
func (s Security) Args() []string {
	var args []string
	protos := make([]string, 0, len(s.Listeners))
	for p := range s.Listeners {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	for _, p := range protos {
		args = append(args, fmt.Sprintf("--listener=%s://%s", p, s.Listeners[p]))
	}
	users := make([]string, 0, len(s.Users))
	for u := range s.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	var plain strings.Builder
	plain.WriteString("org.apache.kafka.common.security.plain.PlainLoginModule required")
	for _, u := range users {
		fmt.Fprintf(&plain, " user_%s=%q", u, s.Users[u])
		for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			args = append(args, fmt.Sprintf("--add-scram=%s=[name=%s,password=%s]", m, u, s.Users[u]))
		}
	}
	plain.WriteString(";")
	const scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
	for _, p := range protos {
		if !strings.HasPrefix(p, "SASL_") {
			continue
		}
		l := "listener.name." + strings.ToLower(p) + "."
		args = append(args,
			l+"plain.sasl.jaas.config="+plain.String(),
			l+"scram-sha-256.sasl.jaas.config="+scram,
			l+"scram-sha-512.sasl.jaas.config="+scram,
		)
	}
	supers := []string{"User:ANONYMOUS"}
	for _, u := range s.SuperUsers {
		supers = append(supers, "User:"+u)
	}
	clientAuth := s.ClientAuth
	if clientAuth == "" {
		clientAuth = "none"
	}
	return append(args,
		"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location="+s.Keystore,
		"ssl.truststore.type=PEM",
		"ssl.truststore.location="+s.Truststore,
		"ssl.client.auth="+clientAuth,
		"ssl.principal.mapping.rules=RULE:^CN=([^,]+).*$/$1/,DEFAULT",
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users="+strings.Join(supers, ";"),
		"allow.everyone.if.no.acl.found=false",
	)
}
