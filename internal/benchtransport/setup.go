package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

const trustDomain = "bench.local"

// network is a CA with two leaves: the serving peer and its caller.
type network struct {
	pool           *x509.CertPool
	server, client *certs.Source
	serverID       certs.ID
}

// newNetwork makes a CA and the two peer identities, as in the tests.
func newNetwork() (*network, error) {
	ca, err := certs.NewCA(trustDomain, time.Now(), time.Hour)
	if err != nil {
		return nil, err
	}
	n := &network{pool: ca.Pool(), serverID: certs.PeerID(trustDomain, "teacher")}
	if n.server, err = leaf(ca, n.serverID); err != nil {
		return nil, err
	}
	if n.client, err = leaf(ca, certs.PeerID(trustDomain, "student")); err != nil {
		return nil, err
	}
	return n, nil
}

// leaf issues id from ca with a key made here.
func leaf(ca *certs.CA, id certs.ID) (*certs.Source, error) {
	key, err := certs.NewKey()
	if err != nil {
		return nil, err
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		return nil, err
	}
	nb, na := certs.Validity(time.Now(), time.Hour)
	iss, err := ca.Issue(csr, id, nb, na)
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", id, err)
	}
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	pair, err := certs.KeyPair(iss.PEM, keyPEM, ca.Cert)
	if err != nil {
		return nil, err
	}
	return certs.NewSource(pair)
}

// fakeModel answers every batch with the first rows*classes values of one
// preallocated slice of finite logits: the benchmark measures the
// transport, not a model.
type fakeModel struct {
	classes int
	logits  []float32
}

func newFakeModel(classes, maxRows int) *fakeModel {
	v := make([]float32, classes*maxRows)
	for i := range v {
		v[i] = float32(math.Sin(float64(i)*0.731)) * 7.5
	}
	return &fakeModel{classes: classes, logits: v}
}

func (m *fakeModel) Card() *taonetv1.ModelCard {
	return &taonetv1.ModelCard{Task: "bench", Architecture: "fake", InputShape: []int64{1}, Classes: uint32(m.classes), Device: "cpu"}
}

func (m *fakeModel) Forward(x []float32) ([]float32, error) {
	n := len(x) * m.classes // input shape [1]: one value per row
	if n > len(m.logits) {
		return nil, errors.New("fake model: batch too large")
	}
	return m.logits[:n], nil
}

func (m *fakeModel) Apply([]float32, []float32) error { return nil }

// benchLimits are the peer defaults with the call rate opened up, since
// the unary side makes one call per batch.
func benchLimits() peer.Limits {
	l := peer.DefaultLimits()
	l.CallRate, l.CallBurst = rate.Inf, math.MaxInt32
	return l
}

// target is one real Peer server of a fake model on 127.0.0.1:0 and the
// caller's Teachers (one mutual-TLS connection, as in a round).
type target struct {
	model    *fakeModel
	server   *peer.Server
	info     *taonetv1.PeerInfo
	teachers *peer.Teachers
	done     chan error
}

func newTarget(n *network, model *fakeModel) (*target, error) {
	lim := benchLimits()
	srv, err := peer.NewServer(peer.ServerConfig{Source: n.server, Pool: n.pool,
		Member: func(certs.ID) bool { return true }, Model: model, Limits: lim,
		Gradients: peer.DefaultGradients(), Logger: slog.New(slog.DiscardHandler),
		// The fake model answers by position, not by row, and every
		// repetition sends the same rows: measure the transport, not the
		// round's row cache.
		NoRowCache: true})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &target{model: model, server: srv, done: make(chan error, 1),
		info:     &taonetv1.PeerInfo{Identity: n.serverID.String(), Address: lis.Addr().String()},
		teachers: peer.NewTeachers(peer.NewDialer(n.client, n.pool), lim)}
	go func() { t.done <- srv.GRPC.Serve(lis) }()
	return t, nil
}

func (t *target) Close() error {
	_ = t.teachers.Close()
	t.server.GRPC.Stop()
	return <-t.done
}

// rawServer answers length-prefixed requests on mutual TLS 1.3 with the
// same bytes the Peer server would send, from one prebuilt frame per size:
// the least a TLS socket can do for the exchange.
type rawServer struct {
	lis  net.Listener
	wg   sync.WaitGroup
	resp []byte // payload source, as long as the largest answer
}

func newRawServer(n *network, maxAnswer int) (*rawServer, error) {
	conf := certs.MTLSServerConfig(n.server, n.pool, certs.AuthorizeAny())
	lis, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		return nil, err
	}
	s := &rawServer{lis: lis, resp: make([]byte, maxAnswer)}
	for i := range s.resp {
		s.resp[i] = byte(i * 131)
	}
	s.wg.Go(s.accept)
	return s, nil
}

func (s *rawServer) accept() {
	for {
		c, err := s.lis.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.serve(c) })
	}
}

// serve reads [request bytes u32][answer bytes u32][request] and writes
// [answer bytes u32][answer] in one TLS write, until the client closes.
func (s *rawServer) serve(c net.Conn) {
	defer c.Close()
	frames := map[int][]byte{}
	var head [8]byte
	var req []byte
	for {
		if _, err := io.ReadFull(c, head[:]); err != nil {
			return
		}
		in, out := int(binary.LittleEndian.Uint32(head[:4])), int(binary.LittleEndian.Uint32(head[4:]))
		if out > len(s.resp) {
			return
		}
		if cap(req) < in {
			req = make([]byte, in)
		}
		if _, err := io.ReadFull(c, req[:in]); err != nil {
			return
		}
		f, ok := frames[out]
		if !ok {
			f = binary.LittleEndian.AppendUint32(nil, uint32(out))
			f = append(f, s.resp[:out]...)
			frames[out] = f
		}
		if _, err := c.Write(f); err != nil {
			return
		}
	}
}

func (s *rawServer) Close() error {
	err := s.lis.Close()
	s.wg.Wait()
	return err
}

// dialRaw opens the caller's mutual-TLS connection to s and finishes the
// handshake.
func dialRaw(ctx context.Context, n *network, addr string) (*tls.Conn, error) {
	conf := certs.MTLSClientConfig(n.client, n.pool, certs.AuthorizeID(n.serverID))
	d := tls.Dialer{Config: conf}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := c.(*tls.Conn)
	return tc, tc.HandshakeContext(ctx)
}
