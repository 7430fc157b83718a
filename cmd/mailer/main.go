// Command mailer consumes the private mail topic of Kafka and sends the
// verification emails. In embedded mode (KAFKA_BROKERS empty) the registrar
// runs the mailer in process and this binary has nothing to do.
package main

import (
	"fmt"
	"os"
)

func main() {
	if os.Getenv("KAFKA_BROKERS") == "" {
		fmt.Fprintln(os.Stderr, "mailer: KAFKA_BROKERS is empty. Without Kafka the registrar sends the emails itself; "+
			"this binary is the consumer of registration.mail.v1 for the full stack.")
		os.Exit(2)
	}
	fmt.Fprintln(os.Stderr, "mailer: the Kafka consumer is not part of this build yet")
	os.Exit(1)
}
