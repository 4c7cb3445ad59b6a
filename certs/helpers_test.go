package certs_test

import (
	"crypto/ecdsa"
	"testing"
	"time"

	"github.com/taonet/taonet/certs"
)

const td = "test.local"

func mustCA(tb testing.TB, trustDomain string) *certs.CA {
	tb.Helper()
	ca, err := certs.NewCA(trustDomain, time.Now(), time.Hour)
	if err != nil {
		tb.Fatalf("new ca: %v", err)
	}
	return ca
}

func mustKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := certs.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func mustCSR(tb testing.TB, key *ecdsa.PrivateKey) []byte {
	tb.Helper()
	csr, err := certs.NewCSR(key)
	if err != nil {
		tb.Fatal(err)
	}
	return csr
}

// mustLeaf issues id from ca, valid from nb to na, and returns it as a
// Source whose chain includes the CA.
func mustLeaf(tb testing.TB, ca *certs.CA, id certs.ID, nb, na time.Time, hosts ...string) *certs.Source {
	tb.Helper()
	key := mustKey(tb)
	iss, err := ca.Issue(mustCSR(tb, key), id, nb, na, hosts...)
	if err != nil {
		tb.Fatalf("issue %s: %v", id, err)
	}
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	pair, err := certs.KeyPair(iss.PEM, keyPEM, ca.Cert)
	if err != nil {
		tb.Fatal(err)
	}
	src, err := certs.NewSource(pair)
	if err != nil {
		tb.Fatal(err)
	}
	return src
}

func mustValidLeaf(tb testing.TB, ca *certs.CA, id certs.ID) *certs.Source {
	tb.Helper()
	nb, na := certs.Validity(time.Now(), time.Hour)
	return mustLeaf(tb, ca, id, nb, na)
}
