// Package messaging moves messages out of the outbox and to their consumers.
//
// The Relay claims messages from the outbox (written in the same transaction
// as the state change that caused them), hands them to a Publisher and
// deletes them once published: delivery is at least once, so consumers
// deduplicate on the message id. Publishers: the in-process Bus (embedded
// mode, which delivers synchronously to its subscribers) and Kafka.
//
// Imports: protos only (plus kafka-go for the Kafka adapter); never actors,
// gateway or persistence. Topic names come from the caller.
package messaging
