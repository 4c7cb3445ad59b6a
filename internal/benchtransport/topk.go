package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// topkCase asks for the k most likely classes in dtype instead of full
// float32 logits.
type topkCase struct {
	k     int
	dtype taonetv1.DataType
}

func (c topkCase) name() string {
	return fmt.Sprintf("topk-k%d-%s", c.k, dtypeName(c.dtype))
}

func dtypeName(dt taonetv1.DataType) string {
	switch dt {
	case taonetv1.DataType_DATA_TYPE_FLOAT16:
		return "float16"
	case taonetv1.DataType_DATA_TYPE_BFLOAT16:
		return "bfloat16"
	}
	return "float32"
}

// answerBytes sends batches of rows to t's Forward asking for format (k and
// dtype for top-k) and returns the encoded size of every answer message,
// summed: what crossed the wire above HTTP/2 framing.
func answerBytes(ctx context.Context, n *network, t *target, rows, batches int, tk *topkCase) (int, error) {
	conn, err := peer.NewDialer(n.client, n.pool).Dial(t.info,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(benchLimits().MaxMessageBytes)))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stream, err := taonetv1.NewPeerClient(conn).Forward(ctx)
	if err != nil {
		return 0, err
	}
	x := make([]float32, rows)
	for i := range x {
		x[i] = float32(i) / float32(rows)
	}
	for b := range batches {
		in, err := distill.EncodeFloats(taonetv1.DataType_DATA_TYPE_FLOAT32, []int64{int64(rows), 1}, x)
		if err != nil {
			return 0, err
		}
		req := &taonetv1.ForwardRequest{BatchId: uint64(b), Inputs: in}
		if tk != nil {
			req.Output, req.TopK, req.OutputDtype = taonetv1.OutputFormat_OUTPUT_FORMAT_TOP_K, uint32(tk.k), tk.dtype
		}
		if err := stream.Send(req); err != nil {
			return 0, err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return 0, err
	}
	total := 0
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return 0, err
		}
		if tk != nil && resp.GetTopK().GetK() != uint32(tk.k) {
			return 0, fmt.Errorf("batch %d: no top-%d answer", resp.GetBatchId(), tk.k)
		}
		total += proto.Size(resp)
	}
}
