package exchange

import (
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Field numbers of the answer's logits and of a tensor's data.
var (
	logitsField = (&taonetv1.ForwardResponse{}).ProtoReflect().Descriptor().Fields().ByName("logits").Number()
	dataField   = tensorData.Number()
)

// answer is one ForwardResponse as Forward receives it through Codec: when
// the logits carry at least 32 KiB, their data stays where gRPC received
// it (data holds views of those buffers and the tensor's Data is nil), so
// that Forward copies it once, into its result. free gives the buffers
// back; data is nil when the tensor holds its data itself.
type answer struct {
	resp *taonetv1.ForwardResponse
	data mem.BufferSlice
}

// free releases the received buffers the answer still holds.
func (a *answer) free() {
	a.data.Free()
	a.data = nil
}

// unmarshal decodes b into a, leaving the logits' data in b's buffers when
// it can; any other layout is decoded as Codec decodes a message.
func (a *answer) unmarshal(b mem.BufferSlice) error {
	a.free()
	a.resp = &taonetv1.ForwardResponse{}
	if b.Len() < splitBytes {
		return standard.Unmarshal(b, a.resp)
	}
	if a.split(b) {
		return nil
	}
	a.free()
	a.resp = &taonetv1.ForwardResponse{}
	return unmarshalAliased(b.Materialize(), a.resp)
}

// split parses b as a ForwardResponse whose logits field occurs once and
// whose tensor's data field occurs once. Everything but the data is
// copied out (a few bytes) and decoded by the protobuf runtime; the data
// is taken as views of b. It reports false, holding nothing, when b has
// another layout.
func (a *answer) split(b mem.BufferSlice) bool {
	c := cursor{bufs: b, total: b.Len()}
	var rest, head []byte
	seen := false
	for c.more() {
		start := c
		num, typ, ok := c.tag()
		if !ok {
			return false
		}
		if num != logitsField {
			c = start
			if rest, ok = c.field(rest); !ok {
				return false
			}
			continue
		}
		n, ok := c.varint()
		if seen || typ != protowire.BytesType || !ok || n > uint64(c.left()) {
			return false
		}
		seen = true
		if head, ok = a.tensor(&c, c.pos+int(n)); !ok {
			return false
		}
	}
	if !seen || a.data == nil {
		return false
	}
	t := &taonetv1.Tensor{}
	if proto.Unmarshal(rest, a.resp) != nil || a.resp.GetOutput() != nil || proto.Unmarshal(head, t) != nil {
		return false // the protobuf runtime, on the whole message, reports the error or merges
	}
	a.resp.Output = &taonetv1.ForwardResponse_Logits{Logits: t}
	return true
}

// tensor reads a tensor's fields up to end: its data becomes views in
// a.data, every other field is appended to the returned bytes.
func (a *answer) tensor(c *cursor, end int) ([]byte, bool) {
	var head []byte
	for c.pos < end {
		start := *c
		num, typ, ok := c.tag()
		if !ok {
			return nil, false
		}
		if num != dataField {
			*c = start
			if head, ok = c.field(head); !ok {
				return nil, false
			}
			continue
		}
		n, ok := c.varint()
		if a.data != nil || typ != protowire.BytesType || !ok || n > uint64(end-c.pos) {
			return nil, false
		}
		a.data = c.views(int(n))
	}
	return head, c.pos == end
}

// cursor reads protobuf wire format across the buffers of one message.
type cursor struct {
	bufs  mem.BufferSlice
	i     int // current buffer
	off   int // offset in it
	pos   int // bytes read in all
	total int // bytes in bufs
}

func (c *cursor) left() int  { return c.total - c.pos }
func (c *cursor) more() bool { return c.pos < c.total }

func (c *cursor) byte() (byte, bool) {
	for c.i < len(c.bufs) {
		if d := c.bufs[c.i].ReadOnlyData(); c.off < len(d) {
			b := d[c.off]
			c.off++
			c.pos++
			return b, true
		}
		c.i, c.off = c.i+1, 0
	}
	return 0, false
}

// varint reads a base-128 varint of at most 10 bytes.
func (c *cursor) varint() (uint64, bool) {
	var v uint64
	for shift := 0; shift < 70; shift += 7 {
		b, ok := c.byte()
		if !ok {
			return 0, false
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, true
		}
	}
	return 0, false
}

func (c *cursor) tag() (protowire.Number, protowire.Type, bool) {
	v, ok := c.varint()
	num, typ := protowire.DecodeTag(v)
	return num, typ, ok && num.IsValid()
}

// field appends the next field, as it is on the wire, to dst; groups are
// refused.
func (c *cursor) field(dst []byte) ([]byte, bool) {
	start := *c
	_, typ, ok := c.tag()
	if !ok {
		return nil, false
	}
	switch typ {
	case protowire.VarintType:
		_, ok = c.varint()
	case protowire.Fixed32Type:
		ok = c.skip(4)
	case protowire.Fixed64Type:
		ok = c.skip(8)
	case protowire.BytesType:
		var n uint64
		n, ok = c.varint()
		ok = ok && n <= uint64(c.left()) && c.skip(int(n))
	default:
		ok = false
	}
	if !ok {
		return nil, false
	}
	n := c.pos - start.pos
	*c = start
	return c.copyN(dst, n)
}

// skip moves n bytes on.
func (c *cursor) skip(n int) bool {
	for n > 0 && c.i < len(c.bufs) {
		avail := c.bufs[c.i].Len() - c.off
		k := min(n, avail)
		c.advance(k, avail)
		n -= k
	}
	return n == 0
}

// copyN appends the next n bytes to dst.
func (c *cursor) copyN(dst []byte, n int) ([]byte, bool) {
	for n > 0 && c.i < len(c.bufs) {
		d := c.bufs[c.i].ReadOnlyData()[c.off:]
		k := min(n, len(d))
		dst = append(dst, d[:k]...)
		c.advance(k, len(d))
		n -= k
	}
	return dst, n == 0
}

// views takes the next n bytes as references to b's buffers (no copy);
// the caller frees them. n must not pass the end.
func (c *cursor) views(n int) mem.BufferSlice {
	var out mem.BufferSlice
	for n > 0 && c.i < len(c.bufs) {
		b := c.bufs[c.i]
		k := min(n, b.Len()-c.off)
		if k > 0 {
			out = append(out, b.Slice(c.off, c.off+k))
		}
		c.advance(k, b.Len()-c.off)
		n -= k
	}
	return out
}

// advance moves k bytes on in the current buffer, which had avail left.
func (c *cursor) advance(k, avail int) {
	c.pos += k
	if k == avail {
		c.i, c.off = c.i+1, 0
	} else {
		c.off += k
	}
}
