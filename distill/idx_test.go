package distill_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill"
)

// tinySet is a 5-image 2x3 dataset with labels 0..4.
func tinySet() *distill.Dataset {
	d := &distill.Dataset{Rows: 2, Cols: 3, Classes: 10}
	for i := range 5 {
		for j := range 6 {
			d.Pixels = append(d.Pixels, byte(i*10+j))
		}
		d.Labels = append(d.Labels, byte(i))
	}
	return d
}

// mustWriteIDX writes d into dir as images.gz and labels.gz.
func mustWriteIDX(tb testing.TB, dir string, d *distill.Dataset) (string, string) {
	tb.Helper()
	img, lab := filepath.Join(dir, "images.gz"), filepath.Join(dir, "labels.gz")
	if err := distill.WriteIDX(d, img, lab); err != nil {
		tb.Fatal(err)
	}
	return img, lab
}

// mustGzip writes raw gzipped to a new file in dir.
func mustGzip(tb testing.TB, dir, name string, raw []byte) string {
	tb.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write(raw)
	gz.Close()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func header(words ...uint32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, words)
	return b.Bytes()
}

func TestLoadIDX(t *testing.T) {
	dir := t.TempDir()
	want := tinySet()
	img, lab := mustWriteIDX(t, dir, want)
	t.Run("OK", func(t *testing.T) {
		got, err := distill.LoadIDX(img, lab, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got.Len() != 5 || got.Rows != 2 || got.Cols != 3 || !bytes.Equal(got.Pixels, want.Pixels) || !bytes.Equal(got.Labels, want.Labels) {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("OK/uncompressed", func(t *testing.T) {
		raw := append(header(0x803, 5, 2, 3), want.Pixels...)
		p := filepath.Join(dir, "raw-images")
		os.WriteFile(p, raw, 0o644)
		if _, err := distill.LoadIDX(p, lab, 10); err != nil {
			t.Fatal(err)
		}
	})

	pixels := want.Pixels
	for _, tc := range []struct {
		name, want  string
		images, lbl string
	}{
		{"ErrMissing", "no such file", filepath.Join(dir, "nope.gz"), lab},
		{"ErrWrongMagic", "magic 0x00000801, want 0x00000803", lab, lab},
		{"ErrTruncated", "truncated: 20 of 30 data bytes", mustGzip(t, dir, "trunc.gz", append(header(0x803, 5, 2, 3), pixels[:20]...)), lab},
		{"ErrTruncatedHeader", "truncated header", mustGzip(t, dir, "hdr.gz", header(0x803, 5)), lab},
		{"ErrTrailing", "data after the 30 declared bytes", mustGzip(t, dir, "long.gz", append(header(0x803, 5, 2, 3), append(pixels, 1)...)), lab},
		{"ErrCountMismatch", "4 images but 5 labels", mustGzip(t, dir, "four.gz", append(header(0x803, 4, 2, 3), pixels[:24]...)), lab},
		{"ErrLabelRange", "label 1 is 12", img, mustGzip(t, dir, "badlab.gz", append(header(0x801, 5), 0, 12, 2, 3, 4))},
		{"ErrHugeDims", "dimension 1 is", mustGzip(t, dir, "huge.gz", header(0x803, 1<<20, 1<<20, 1<<20)), lab},
		{"ErrZeroDim", "dimension 0 is 0", mustGzip(t, dir, "zero.gz", header(0x803, 0, 2, 3)), lab},
		{"ErrBadGzip", "gzip", func() string {
			p := filepath.Join(dir, "bad.gz")
			os.WriteFile(p, []byte{0x1f, 0x8b, 0, 0, 1, 2}, 0o644)
			return p
		}(), lab},
		{"ErrEmpty", "no header", func() string {
			p := filepath.Join(dir, "empty")
			os.WriteFile(p, nil, 0o644)
			return p
		}(), lab},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := distill.LoadIDX(tc.images, tc.lbl, 10)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if tc.name != "ErrMissing" && !errors.Is(err, distill.ErrCorrupt) {
				t.Fatalf("%v is not ErrCorrupt", err)
			}
			if tc.name == "ErrMissing" && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%v is not ErrNotExist", err)
			}
		})
	}
}

// TestLoadIDXDeclaredSize checks that a header declaring far more data than
// the file holds is refused as truncated without allocating what it
// declares: a 40-byte file must not cost 512 MiB.
func TestLoadIDXDeclaredSize(t *testing.T) {
	dir := t.TempDir()
	_, lab := mustWriteIDX(t, dir, tinySet())
	img := mustGzip(t, dir, "liar.gz", append(header(0x803, 1<<13, 1<<8, 1<<8), make([]byte, 24)...))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := distill.LoadIDX(img, lab, 10)
	runtime.ReadMemStats(&after)
	if err == nil || !errors.Is(err, distill.ErrCorrupt) || !strings.Contains(err.Error(), "truncated: 24 of 536870912") {
		t.Fatalf("got %v, want truncated", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 128<<20 {
		t.Fatalf("reading a 40-byte file allocated %d MiB", got>>20)
	}
}

func TestFill(t *testing.T) {
	d := tinySet()
	x := make([]float32, 12)
	y := make([]int64, 2)
	d.Fill([]int{4, 1}, x, y)
	if y[0] != 4 || y[1] != 1 {
		t.Fatalf("labels %v", y)
	}
	// Pixel 40 of image 4 and pixel 10 of image 1, normalised.
	for _, c := range []struct {
		i  int
		px float64
	}{{0, 40}, {6, 10}, {11, 15}} {
		want := (c.px/255 - 0.2860) / 0.3530
		if d := float64(x[c.i]) - want; d > 1e-6 || d < -1e-6 {
			t.Errorf("x[%d] = %v, want %v", c.i, x[c.i], want)
		}
	}
}

func TestFashionMNIST(t *testing.T) {
	train, test, err := distill.LoadFashionMNIST(distill.FashionMNISTDir)
	if err != nil {
		t.Fatalf("%v (the dependency step installs dataset-fashion-mnist: make deps)", err)
	}
	p, err := distill.SplitPools(train, test)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  int
		want int
	}{{"train", train.Len(), 60000}, {"test", test.Len(), 10000}, {"transfer", len(p.Transfer), 10000},
		{"private", len(p.Private), 50000}, {"validation", len(p.Validation), 5000}, {"report", len(p.Report), 5000}} {
		if c.got != c.want {
			t.Errorf("%s: %d examples, want %d", c.name, c.got, c.want)
		}
	}
	if p.Private[0] != p.Transfer[len(p.Transfer)-1]+1 || p.Report[0] != p.Validation[len(p.Validation)-1]+1 {
		t.Error("pools overlap or leave a gap")
	}
	t.Run("ErrMissingDir", func(t *testing.T) {
		if _, _, err := distill.LoadFashionMNIST(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v", err)
		}
	})
}
