package torch

import (
	"fmt"
	"strconv"
	"strings"
)

// Device kinds accepted by ParseDevice.
const (
	DeviceAuto = "auto"
	DeviceCPU  = "cpu"
	DeviceCUDA = "cuda"
)

// Device names where a model lives: the CPU, a CUDA GPU by index, or "auto"
// (CUDA when present, else the CPU) before Resolve.
type Device struct {
	Kind  string // DeviceAuto, DeviceCPU or DeviceCUDA
	Index int    // CUDA device index
}

// CPU is the CPU device.
var CPU = Device{Kind: DeviceCPU}

// ParseDevice parses auto, cpu, cuda or cuda:N. It needs no shim.
func ParseDevice(s string) (Device, error) {
	switch s {
	case DeviceAuto, DeviceCPU, DeviceCUDA:
		return Device{Kind: s}, nil
	}
	if rest, ok := strings.CutPrefix(s, DeviceCUDA+":"); ok {
		i, err := strconv.Atoi(rest)
		if err == nil && i >= 0 {
			return Device{Kind: DeviceCUDA, Index: i}, nil
		}
	}
	return Device{}, fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N", s)
}

// String is the libtorch spelling of the device: cpu, cuda:N or auto.
func (d Device) String() string {
	if d.Kind == DeviceCUDA {
		return fmt.Sprintf("cuda:%d", d.Index)
	}
	if d.Kind == "" {
		return DeviceCPU
	}
	return d.Kind
}

// Resolve turns auto into cuda:0 or cpu and checks that a CUDA device
// exists; asking for CUDA where there is none is an error that says so.
func (d Device) Resolve() (Device, error) {
	switch d.Kind {
	case DeviceCPU, "":
		return CPU, nil
	case DeviceAuto, DeviceCUDA:
	default:
		return Device{}, fmt.Errorf("device %q: unknown kind", d.Kind)
	}
	n, err := CUDADevices()
	if err != nil {
		return Device{}, err
	}
	if d.Kind == DeviceAuto {
		if n > 0 {
			return Device{Kind: DeviceCUDA}, nil
		}
		return CPU, nil
	}
	if n == 0 {
		return Device{}, fmt.Errorf("device %s: CUDA is not available (no GPU, or the shim was built against a CPU-only libtorch)", d)
	}
	if d.Index >= n {
		return Device{}, fmt.Errorf("device %s: only %d CUDA device(s)", d, n)
	}
	return d, nil
}
