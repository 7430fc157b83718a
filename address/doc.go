// Package address validates and normalizes email addresses by the identity
// rules of the API contract (bare addr-spec, length limits, lower case,
// IDN domains in punycode). It imports only the standard library and
// x/net/idna, so every layer may use it.
package address
