package coordinator

import (
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// event is a Watch event encoded once for every stream it goes to: a round
// event names every peer, so encoding it per stream made the coordinator's
// cost per round grow with the square of the peers.
type event struct {
	msg     *taonetv1.WatchResponse
	encoded []byte // the msg's protobuf encoding; nil if encoding failed
}

// newEvent encodes msg.
func newEvent(msg *taonetv1.WatchResponse) *event {
	b, err := proto.Marshal(msg)
	if err != nil {
		return &event{msg: msg}
	}
	return &event{msg: msg, encoded: b}
}

// codec is the coordinator server's gRPC codec: the standard protobuf codec
// (same name, same wire format), except that an *event goes out as the
// bytes it was encoded to once.
type codec struct{}

var standardCodec = encoding.GetCodecV2(grpcproto.Name)

func (codec) Name() string { return grpcproto.Name }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*event); ok {
		if e.encoded == nil {
			return standardCodec.Marshal(e.msg)
		}
		return mem.BufferSlice{mem.SliceBuffer(e.encoded)}, nil
	}
	return standardCodec.Marshal(v)
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error { return standardCodec.Unmarshal(data, v) }
