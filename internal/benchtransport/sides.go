package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/taonet/taonet/internal/exchange"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// sizeCase is one answer size: batches of rows inputs (shape [1]) answered
// with rows*classes float32 logits each.
type sizeCase struct {
	name    string
	classes int
	rows    int
	batches int
}

func (c sizeCase) answerBytes() int { return c.rows * c.classes * 4 }
func (c sizeCase) totalBytes() int  { return c.answerBytes() * c.batches }

// inputs is rows*batches finite input values.
func (c sizeCase) inputs() []float32 {
	x := make([]float32, c.rows*c.batches)
	for i := range x {
		x[i] = float32(i%97) / 97
	}
	return x
}

func (c sizeCase) call(round uint64, x []float32) exchange.Call {
	return exchange.Call{Round: round, Inputs: x, Shape: []int64{1}, Classes: c.classes, Batch: c.rows}
}

// sideTimeout bounds one side of one repetition.
const sideTimeout = 2 * time.Minute

// runStream is the streaming exchange as a peer runs it: Teachers.Forward
// of every batch on one Forward stream, all in flight.
func runStream(ctx context.Context, t *target, c sizeCase, round uint64, x []float32) (time.Duration, []float32, error) {
	start := time.Now()
	ans := t.teachers.Forward(ctx, []*taonetv1.PeerInfo{t.info}, c.call(round, x), sideTimeout)
	d := time.Since(start)
	if ans[0].Err != nil {
		return 0, nil, ans[0].Err
	}
	return d, ans[0].Logits, nil
}

// runUnary is the same exchange with one RPC per batch (one request, one
// answer per call, as a unary method would carry them), inflight calls at
// a time, gathered into one result.
func runUnary(ctx context.Context, t *target, c sizeCase, round uint64, x []float32, inflight int) (time.Duration, []float32, error) {
	out := make([]float32, c.rows*c.batches*c.classes)
	next := make(chan int)
	errs := make(chan error, inflight)
	var wg sync.WaitGroup
	start := time.Now()
	for range inflight {
		wg.Go(func() {
			for i := range next {
				call := c.call(round, x[i*c.rows:(i+1)*c.rows])
				call.FirstBatch = uint64(i)
				ans := t.teachers.Forward(ctx, []*taonetv1.PeerInfo{t.info}, call, sideTimeout)
				if ans[0].Err != nil {
					errs <- ans[0].Err
					return
				}
				copy(out[i*c.rows*c.classes:], ans[0].Logits)
			}
		})
	}
	var err error
feed:
	for i := range c.batches {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	d := time.Since(start)
	close(errs)
	if err == nil {
		err = <-errs
	}
	return d, out, err
}

// runRaw copies the same bytes over a plain mutual-TLS 1.3 socket: every
// request written (all in flight) while the answers are read into one
// buffer, the way the Forward client gathers them.
func runRaw(conn *tls.Conn, c sizeCase, x []float32, out []byte) (time.Duration, error) {
	start := time.Now()
	sent := make(chan error, 1)
	go func() {
		buf := make([]byte, 8+4*c.rows)
		for i := range c.batches {
			binary.LittleEndian.PutUint32(buf, uint32(4*c.rows))
			binary.LittleEndian.PutUint32(buf[4:], uint32(c.answerBytes()))
			for j, v := range x[i*c.rows : (i+1)*c.rows] {
				binary.LittleEndian.PutUint32(buf[8+4*j:], math.Float32bits(v))
			}
			if _, err := conn.Write(buf); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	var head [4]byte
	n := c.answerBytes()
	for i := range c.batches {
		if _, err := io.ReadFull(conn, head[:]); err != nil {
			return 0, err
		}
		if got := int(binary.LittleEndian.Uint32(head[:])); got != n {
			return 0, fmt.Errorf("raw: answer of %d bytes, want %d", got, n)
		}
		if _, err := io.ReadFull(conn, out[i*n:(i+1)*n]); err != nil {
			return 0, err
		}
	}
	d := time.Since(start)
	return d, <-sent
}

// checkLogits is the bit-exact check of an answer against the model's
// logits (outside the timed part).
func checkLogits(c sizeCase, m *fakeModel, got []float32) error {
	if len(got) != c.rows*c.batches*c.classes {
		return fmt.Errorf("%d logits, want %d", len(got), c.rows*c.batches*c.classes)
	}
	want := m.logits[:c.rows*c.classes]
	for i, v := range got {
		if math.Float32bits(v) != math.Float32bits(want[i%len(want)]) {
			return fmt.Errorf("logit %d is %v, want %v: not bit-exact", i, v, want[i%len(want)])
		}
	}
	return nil
}
