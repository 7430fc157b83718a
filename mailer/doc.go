// Package mailer turns verification-code messages into emails and delivers
// them: it skips codes that expired before it got to them, deduplicates by
// message id (delivery to it is at least once), renders the email, sends it
// over SMTP (or prints it when no SMTP server is configured), retries
// temporary failures within the code's lifetime and reports each outcome.
//
// Imports: protos, address and messaging (for its Handler and ErrPermanent);
// go-mail for SMTP. Never actors, gateway or persistence.
package mailer
