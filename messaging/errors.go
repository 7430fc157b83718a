package messaging

import "errors"

// ErrPermanent marks a message that can never be handled (undecodable, or
// refused for good by the mail server): retrying it is pointless, so it goes
// to the dead-letter topic instead.
var ErrPermanent = errors.New("permanent failure")
