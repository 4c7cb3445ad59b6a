// Package roundchain defines the tamper-evident chain of settled rounds:
// the canonical byte encoding of a settled round's record, the chain hash
// that links each record to the one before it, and the coordinator's
// signature over that hash.
//
// The chain hash of a settled round is
//
//	hash = SHA-256(Encode(previous, record))
//
// where previous is the chain hash of the settled round before it (Genesis,
// 32 zero bytes, for the first) and Encode is the canonical encoding below.
// Open and aborted rounds pay nothing and are not in the chain.
//
// # Canonical encoding
//
// Every integer is fixed-width big-endian; every string and byte string is
// a 4-byte big-endian length followed by its bytes; every float64 is the 8
// big-endian bytes of its IEEE 754 bits (math.Float64bits), with -0 written
// as +0 (SQLite does not keep the sign of zero) and NaN refused. In order:
//
//	string  "taonet/round/v1"      domain and version of the encoding
//	[32]    previous               the previous chain hash, raw
//	uint64  number                 the round number
//	uint64  seed                   the transfer seed
//	bytes   seed hash              SHA-256 of the validation seed
//	bytes   validation seed        revealed at settlement
//	uint64  emission               rao minted by the round
//	uint32  count of evaluations, then for each, by identity (bytewise):
//	  string  identity             the peer's SPIFFE ID
//	  float64 loss, accuracy, weight
//	  uint64  shares
//	  string  status               scored, timeout, invalid or duplicate
//	  uint64  payout               rao
//	uint32  count of payouts, then for each, by account (bytewise):
//	  string  account
//	  uint64  amount               rao
//
// Identities and accounts must each be unique within a record, so the
// order is total.
//
// # Signatures
//
// The coordinator signs the 32-byte chain hash with its own key through
// crypto.Signer: an ECDSA key signs it as a SHA-256 digest (ASN.1 DER
// signature), an Ed25519 key signs it as the message. The certificate of
// the signing key travels with the signature, because the coordinator's
// certificate is renewed every few days (and its key may change); a
// signature is good when that certificate chains to the network's CA and
// names the coordinator (spiffe://<trust-domain>/coordinator), whether or
// not it has expired since.
package roundchain
