// Package wiring turns the configuration both binaries share into the parts
// they share: the mail sender and the Kafka topics of the contract. Only
// cmd/ imports it; internal/config stays data.
package wiring

import (
	"io"
	"log/slog"

	"github.com/acme/registrar/internal/config"
	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/messaging"
)

// Sender is the sender of m: SMTP, or without SMTP_URL one that prints the
// emails to stdout, with a warning, since the codes end up there.
func Sender(m config.Mail, stdout io.Writer, log *slog.Logger) (mailer.Sender, error) {
	if m.SMTPURL == "" {
		log.Warn("SMTP_URL is empty: verification emails, codes included, are printed to standard output instead of sent; never run production like this")
	}
	return mailer.SenderFor(m.SMTPURL, stdout)
}

// Topics are the topics of the contract with k's prefix and settings.
func Topics(k config.Kafka) []messaging.Topic {
	return messaging.ContractTopics(k.TopicPrefix, k.Partitions, k.ReplicationFactor,
		k.MailRetention, k.EventsRetention, k.DeadLetterRetention)
}
