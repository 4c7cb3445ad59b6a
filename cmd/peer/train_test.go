package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill/torch"
	"github.com/taonet/taonet/internal/testdata"
)

func runPeer(args ...string) (string, error) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestTrain(t *testing.T) {
	if err := torch.Open(); err != nil {
		t.Fatalf("peer train needs the libtorch shim: run `make shim`: %v", err)
	}
	data := testdata.TinyFashion(t, 600, 100)
	accuracy := regexp.MustCompile(`report pool: accuracy (\d+\.\d+)% .* on 50 examples`)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"OK/whole", []string{"--model", "mlp"}},
		{"OK/shard", []string{"--model", "cnn", "--shard", "1/3", "--alpha", "0.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			args := append([]string{"train", "--epochs", "2", "--data", data, "--home", home, "--threads", "1", "--device", "cpu", "--batch", "16"}, tc.args...)
			out, err := runPeer(args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			m := accuracy.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no accuracy line:\n%s", out)
			}
			if acc, _ := strconv.ParseFloat(m[1], 64); tc.name == "OK/whole" && acc < 90 {
				t.Fatalf("accuracy %s%% on an easy problem:\n%s", m[1], out)
			}
			arch := tc.args[1]
			model, err := torch.NewModel(arch, torch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			defer model.Close()
			if err := model.Load(filepath.Join(home, "model-"+arch+".pt")); err != nil {
				t.Fatalf("checkpoint: %v", err)
			}
		})
	}
	n, err := torch.CUDADevices()
	if err != nil {
		t.Fatal(err)
	}
	noCUDA := "cuda"
	if n > 0 {
		noCUDA = "cuda:99"
	}
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"ErrDeviceUnavailable", "CUDA", []string{"--device", noCUDA}},
		{"ErrDevice", "want auto, cpu, cuda", []string{"--device", "tpu"}},
		{"ErrModel", "want mlp or cnn", []string{"--model", "vit"}},
		{"ErrShard", "want i/n", []string{"--shard", "3/3"}},
		{"ErrEpochs", "epochs 0", []string{"--epochs", "0"}},
		{"ErrData", "no such file", []string{"--data", t.TempDir()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			args := append([]string{"train", "--data", data, "--home", home, "--threads", "1", "--epochs", "1"}, tc.args...)
			out, err := runPeer(args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q\n%s", err, tc.want, out)
			}
			if _, err := os.Stat(home); !os.IsNotExist(err) {
				t.Fatalf("a refused run touched --home: %v", err)
			}
		})
	}
}
