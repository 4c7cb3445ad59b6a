package exchange

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// splitBytes is the least tensor data a message carries before Codec moves
// it without the protobuf copy: below it the copy costs less than the
// bookkeeping. Tests lower it.
var splitBytes = 32 << 10

var (
	tensorName = (&taonetv1.Tensor{}).ProtoReflect().Descriptor().FullName()
	tensorData = (&taonetv1.Tensor{}).ProtoReflect().Descriptor().Fields().ByName("data")
)

// Codec is the gRPC codec of the Peer service, on its server
// (grpc.ForceServerCodecV2) and in this package's clients
// (grpc.ForceCodecV2): the wire format is plain protobuf, so either side
// may use the standard codec, but a tensor's data is not copied by the
// protobuf runtime.
//
// Marshal sends a message with a Tensor field of at least 32 KiB of data as
// two buffers: the rest of the message, encoded, and the tensor's data
// slice itself. gRPC reads that slice after Send returns (until the
// message is written to the connection), so a sender must not change a
// tensor's data once it has sent it; the Peer service and this package
// never do. Unmarshal gathers such a message into one buffer of its own
// and lets the tensor's data alias it: one copy instead of two. Forward
// goes further: it receives answers whose logits stay in gRPC's receive
// buffers until it copies them into its result (see answer). Every other
// message takes the standard protobuf path.
type Codec struct{}

// standard is grpc-go's protobuf codec, registered by its package.
var standard = encoding.GetCodecV2(grpcproto.Name)

// Name is the standard codec's name: peers using either interoperate.
func (Codec) Name() string { return grpcproto.Name }

// Marshal encodes v, a proto.Message.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return standard.Marshal(v)
	}
	r := m.ProtoReflect()
	fd, t := bigTensor(r)
	if fd == nil {
		return standard.Marshal(v)
	}
	rest, err := proto.Marshal(without(r, fd).Interface())
	if err != nil {
		return nil, err
	}
	data := t.Get(tensorData).Bytes()
	head, err := proto.Marshal(without(t, tensorData).Interface())
	if err != nil {
		return nil, err
	}
	inner := len(head) + protowire.SizeTag(tensorData.Number()) + protowire.SizeBytes(len(data))
	out := make([]byte, 0, len(rest)+protowire.SizeTag(fd.Number())+protowire.SizeVarint(uint64(inner))+inner-len(data))
	out = append(out, rest...)
	out = protowire.AppendTag(out, fd.Number(), protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(inner))
	out = append(out, head...)
	out = protowire.AppendTag(out, tensorData.Number(), protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(len(data)))
	return mem.BufferSlice{mem.SliceBuffer(out), mem.SliceBuffer(data)}, nil
}

// Unmarshal decodes data into v, a proto.Message.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if a, ok := v.(*answer); ok {
		return a.unmarshal(data)
	}
	m, ok := v.(proto.Message)
	if !ok || data.Len() < splitBytes || !hasTensorField(m.ProtoReflect().Descriptor()) {
		return standard.Unmarshal(data, v)
	}
	buf := data.Materialize() // the message's own memory, which it may alias
	if err := unmarshalAliased(buf, m); err != nil {
		return fmt.Errorf("unmarshal %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// bigTensor is the populated singular Tensor field of r with the most data
// when that is at least splitBytes.
func bigTensor(r protoreflect.Message) (protoreflect.FieldDescriptor, protoreflect.Message) {
	var best protoreflect.FieldDescriptor
	var bestMsg protoreflect.Message
	size := splitBytes - 1
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !isTensorField(fd) || !r.Has(fd) {
			continue
		}
		t := r.Get(fd).Message()
		if n := len(t.Get(tensorData).Bytes()); n > size {
			best, bestMsg, size = fd, t, n
		}
	}
	return best, bestMsg
}

func isTensorField(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.MessageKind && fd.Cardinality() != protoreflect.Repeated && fd.Message().FullName() == tensorName
}

func hasTensorField(md protoreflect.MessageDescriptor) bool {
	fields := md.Fields()
	for i := range fields.Len() {
		if isTensorField(fields.Get(i)) {
			return true
		}
	}
	return false
}

// without is a shallow copy of r (fields share r's values) less field
// skip, unknown fields kept.
func without(r protoreflect.Message, skip protoreflect.FieldDescriptor) protoreflect.Message {
	c := r.Type().New()
	r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd != skip {
			c.Set(fd, v)
		}
		return true
	})
	c.SetUnknown(r.GetUnknown())
	return c
}

// unmarshalAliased decodes buf into m with the data of its largest Tensor
// field aliasing buf. Any layout it does not expect (a field repeated, a
// oneof set twice) is decoded by the protobuf runtime instead, which
// copies but applies the full merge rules.
func unmarshalAliased(buf []byte, m proto.Message) error {
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	var fd protoreflect.FieldDescriptor
	lo, hi, val := field(buf, func(n protowire.Number) bool {
		f := fields.ByNumber(n)
		return f != nil && isTensorField(f)
	})
	if lo >= 0 {
		fd = fields.ByNumber(mustTag(buf[lo:]))
	}
	if fd == nil || hi-lo < splitBytes {
		return proto.Unmarshal(buf, m)
	}
	if err := proto.Unmarshal(cut(buf, lo, hi), m); err != nil {
		return err
	}
	if od := fd.ContainingOneof(); od != nil && r.WhichOneof(od) != nil {
		return proto.Unmarshal(buf, m)
	}
	t := r.NewField(fd).Message()
	tb := buf[val:hi]
	dlo, dhi, dval := field(tb, func(n protowire.Number) bool { return n == tensorData.Number() })
	if dlo < 0 {
		if err := proto.Unmarshal(tb, t.Interface()); err != nil {
			return err
		}
	} else {
		if err := proto.Unmarshal(cut(tb, dlo, dhi), t.Interface()); err != nil {
			return err
		}
		t.Set(tensorData, protoreflect.ValueOfBytes(tb[dval:dhi:dhi]))
	}
	r.Set(fd, protoreflect.ValueOfMessage(t))
	return nil
}

// field finds the one length-delimited field of b whose number passes
// want and that is the largest of those: its bounds [lo, hi) and where its
// value starts. lo is -1 when there is none, when one of them occurs more
// than once, or when b does not parse (the caller then leaves b to the
// protobuf runtime, which reports the error).
func field(b []byte, want func(protowire.Number) bool) (lo, hi, val int) {
	lo = -1
	seen := map[protowire.Number]bool{}
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return -1, 0, 0
		}
		m := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if m < 0 {
			return -1, 0, 0
		}
		if want(num) {
			if seen[num] || typ != protowire.BytesType {
				return -1, 0, 0
			}
			seen[num] = true
			if lo < 0 || n+m > hi-lo {
				_, k := protowire.ConsumeVarint(b[off+n:])
				lo, hi, val = off, off+n+m, off+n+k
			}
		}
		off += n + m
	}
	return lo, hi, val
}

// mustTag is the field number of the tag at the start of b, which field
// has already parsed.
func mustTag(b []byte) protowire.Number {
	num, _, _ := protowire.ConsumeTag(b)
	return num
}

// cut is b less [lo, hi), in a new slice (the part left out is the large
// one, so this copies little).
func cut(b []byte, lo, hi int) []byte {
	out := make([]byte, 0, len(b)-(hi-lo))
	return append(append(out, b[:lo]...), b[hi:]...)
}
