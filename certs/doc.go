// Package certs is the network's identity layer: the CA, leaf certificates
// issued from CSRs, join tokens, the CA pin, mutual-TLS configurations and
// the SPIFFE identity read back from a verified certificate.
package certs
