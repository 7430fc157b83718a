// Package gateway is the HTTP side of the service: fiber routes, huma
// operations and the OpenAPI 3.1 document, Basic authentication, request
// limits and problem+json errors.
//
// It imports actors (the public API of the registration actors and their
// errors), address and password; never persistence or messaging, and it
// keeps fiber to itself. problemFor is the one place where errors become
// status codes. No response ever repeats a submitted password or code.
package gateway
