package distill

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// IDX type codes and magics (the first four bytes of an IDX file).
const (
	idxUbyte       = 0x08
	magicImages    = 0x00000803 // unsigned bytes, 3 dimensions
	magicLabels    = 0x00000801 // unsigned bytes, 1 dimension
	maxIDXElements = 1 << 30    // refuse larger declared sizes before allocating
	idxPrealloc    = 64 << 20   // allocate at most this much before data arrives
)

// ErrCorrupt marks an IDX file that cannot be read as what it claims.
var ErrCorrupt = errors.New("corrupt IDX file")

// readIDX reads an IDX file of unsigned bytes, gzip-compressed or not, whose
// magic must be want. It returns the dimensions and the data.
func readIDX(path string, want uint32) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if head, _ := br.Peek(2); bytes.Equal(head, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w: gzip: %v", path, ErrCorrupt, err)
		}
		defer gz.Close()
		r = gz
	}
	var magic uint32
	if err := binary.Read(r, binary.BigEndian, &magic); err != nil {
		return nil, nil, fmt.Errorf("%s: %w: no header: %v", path, ErrCorrupt, err)
	}
	if magic != want {
		return nil, nil, fmt.Errorf("%s: %w: magic %#08x, want %#08x", path, ErrCorrupt, magic, want)
	}
	dims := make([]int, magic&0xff)
	total := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, nil, fmt.Errorf("%s: %w: truncated header: %v", path, ErrCorrupt, err)
		}
		dims[i] = int(d)
		if d == 0 || total > maxIDXElements/int(d) {
			return nil, nil, fmt.Errorf("%s: %w: dimension %d is %d", path, ErrCorrupt, i, d)
		}
		total *= int(d)
	}
	data, err := readData(r, total)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: truncated: %d of %d data bytes: %v", path, ErrCorrupt, len(data), total, err)
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(r, 1)); n != 0 {
		return nil, nil, fmt.Errorf("%s: %w: data after the %d declared bytes", path, ErrCorrupt, total)
	}
	return dims, data, nil
}

// readData reads the total data bytes of an IDX file. Memory grows with the
// bytes that actually arrive (at most idxPrealloc up front), so a header
// that declares far more than the file holds costs nothing. On a short file
// it returns what it read and the error.
func readData(r io.Reader, total int) ([]byte, error) {
	data := make([]byte, 0, min(total, idxPrealloc))
	for len(data) < total {
		if len(data) == cap(data) {
			data = slices.Grow(data, min(total, 2*cap(data))-len(data))
		}
		n, err := io.ReadFull(r, data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err != nil {
			return data, err
		}
	}
	return data, nil
}

// LoadIDX reads an image file (IDX3, unsigned bytes) and its label file
// (IDX1) into a Dataset with classes classes. Either file may be gzipped. A
// missing file, a wrong magic, a truncated file, a count mismatch or a label
// out of range is an error naming the file.
func LoadIDX(images, labels string, classes int) (*Dataset, error) {
	dims, pixels, err := readIDX(images, magicImages)
	if err != nil {
		return nil, fmt.Errorf("read images: %w", err)
	}
	ldims, lab, err := readIDX(labels, magicLabels)
	if err != nil {
		return nil, fmt.Errorf("read labels: %w", err)
	}
	if dims[0] != ldims[0] {
		return nil, fmt.Errorf("read %s: %w: %d images but %d labels in %s", images, ErrCorrupt, dims[0], ldims[0], labels)
	}
	for i, y := range lab {
		if int(y) >= classes {
			return nil, fmt.Errorf("read labels: %s: %w: label %d is %d, not below %d classes", labels, ErrCorrupt, i, y, classes)
		}
	}
	return &Dataset{Rows: dims[1], Cols: dims[2], Classes: classes, Pixels: pixels, Labels: lab}, nil
}

// WriteIDX writes a Dataset as a gzipped IDX image file and label file, the
// format LoadIDX reads (for tests and for bringing one's own data).
func WriteIDX(d *Dataset, images, labels string) error {
	if err := writeIDX(images, magicImages, []int{d.Len(), d.Rows, d.Cols}, d.Pixels); err != nil {
		return fmt.Errorf("write images: %w", err)
	}
	if err := writeIDX(labels, magicLabels, []int{d.Len()}, d.Labels); err != nil {
		return fmt.Errorf("write labels: %w", err)
	}
	return nil
}

func writeIDX(path string, magic uint32, dims []int, data []byte) error {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	hdr := []uint32{magic}
	for _, d := range dims {
		hdr = append(hdr, uint32(d))
	}
	if err := binary.Write(gz, binary.BigEndian, hdr); err != nil {
		return err
	}
	if _, err := gz.Write(data); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
