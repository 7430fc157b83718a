package registrationv1

// The names of the wire contract (api-contract.md, "Kafka"), defined once.
const (
	// MailTopic carries the codes to the mailer: private, short retention.
	MailTopic = "registration.mail.v1"
	// EventsTopic carries the public domain events: no secrets.
	EventsTopic = "registration.events.v1"
	// DeadLetterTopic keeps the mail messages the mailer can never send. It
	// carries codes: private, like the mail topic.
	DeadLetterTopic = "registration.mail.dlq.v1"
	// Source is the CloudEvents source of the messages the registrar
	// produces.
	Source = "/registrar"
)
