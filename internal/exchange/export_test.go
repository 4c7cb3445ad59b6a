package exchange

import (
	"testing"

	"google.golang.org/grpc/mem"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// SetSplitBytes lowers the tensor size from which Codec splits messages,
// for the rest of tb.
func SetSplitBytes(tb testing.TB, n int) {
	old := splitBytes
	splitBytes = n
	tb.Cleanup(func() { splitBytes = old })
}

// DecodeAnswer decodes b as Forward receives an answer. It returns the
// response with the logits' data filled in, and whether that data had been
// left in b's buffers.
func DecodeAnswer(b mem.BufferSlice) (*taonetv1.ForwardResponse, bool, error) {
	var a answer
	defer a.free()
	if err := a.unmarshal(b); err != nil {
		return nil, false, err
	}
	split := a.data != nil
	if split {
		a.resp.GetLogits().Data = a.data.Materialize()
	}
	return a.resp, split, nil
}
