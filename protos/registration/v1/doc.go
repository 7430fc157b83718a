// Package registrationv1 is generated from the .proto files beside it
// (make proto): the messages of the registration actors, the public events,
// the private mail message and the outbox envelope. Contract only: no rules
// live here. Edit the .proto files, never the .pb.go files.
package registrationv1
