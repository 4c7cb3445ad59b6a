package coordinator

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// ProtocolVersion is the wire protocol this coordinator speaks.
const ProtocolVersion = 1

// Task is a network task: what every peer's model must take and produce.
type Task struct {
	Name       string
	Classes    uint32
	InputShape []int64
	// Architectures are the model families a card may name.
	Architectures []string
}

// tasks are the tasks `coordinator init --task` accepts.
var tasks = map[string]Task{
	"fmnist": {Name: "fmnist", Classes: 10, InputShape: []int64{1, 28, 28}, Architectures: []string{"mlp", "cnn"}},
}

// LookupTask returns the task called name.
func LookupTask(name string) (Task, error) {
	t, ok := tasks[name]
	if !ok {
		names := make([]string, 0, len(tasks))
		for n := range tasks {
			names = append(names, n)
		}
		sort.Strings(names)
		return Task{}, fmt.Errorf("unknown task %q (known: %s)", name, strings.Join(names, ", "))
	}
	return t, nil
}

// Limits of a model card's fields. A card is stored in the directory and
// sent in every Join response, ListPeers page and Watch snapshot, so an
// unbounded one would push those past the message limit for everyone.
const (
	maxCardString     = 64      // task, architecture and device, in bytes
	maxCardInputShape = 8       // dimensions
	maxCardParameters = 1 << 40 // about 10^12
)

// checkCardFields refuses card fields that are too long or not printable
// ASCII (errBadCard), before anything echoes them in a message.
func checkCardFields(card *taonetv1.ModelCard) error {
	for _, f := range []struct{ name, v string }{{"task", card.GetTask()}, {"architecture", card.GetArchitecture()}, {"device", card.GetDevice()}} {
		if len(f.v) > maxCardString {
			return fmt.Errorf("%w: %s is %d bytes, over %d", errBadCard, f.name, len(f.v), maxCardString)
		}
		for i := 0; i < len(f.v); i++ {
			if f.v[i] <= ' ' || f.v[i] > '~' {
				return fmt.Errorf("%w: %s must be printable ASCII without spaces", errBadCard, f.name)
			}
		}
	}
	if n := len(card.GetInputShape()); n > maxCardInputShape {
		return fmt.Errorf("%w: input shape has %d dimensions, over %d", errBadCard, n, maxCardInputShape)
	}
	if p := card.GetParameters(); p > maxCardParameters {
		return fmt.Errorf("%w: %d parameters, over %d", errBadCard, p, uint64(maxCardParameters))
	}
	return nil
}

// CheckCard reports whether card fits the task: fields within their limits
// (errBadCard), then the same task name, classes and input shape, an
// architecture the task knows and a device named (errCardMismatch).
func (t Task) CheckCard(card *taonetv1.ModelCard) error {
	if card == nil {
		return fmt.Errorf("%w: no model card", errCardMismatch)
	}
	if err := checkCardFields(card); err != nil {
		return err
	}
	switch {
	case card.GetTask() != t.Name:
		return fmt.Errorf("%w: card task %q, network task %q", errCardMismatch, card.GetTask(), t.Name)
	case card.GetClasses() != t.Classes:
		return fmt.Errorf("%w: card has %d classes, task %s has %d", errCardMismatch, card.GetClasses(), t.Name, t.Classes)
	case !slices.Equal(card.GetInputShape(), t.InputShape):
		return fmt.Errorf("%w: card input shape %v, task %s needs %v", errCardMismatch, card.GetInputShape(), t.Name, t.InputShape)
	case card.GetArchitecture() == "" || card.GetDevice() == "":
		return fmt.Errorf("%w: card must name an architecture and a device", errCardMismatch)
	case !slices.Contains(t.Architectures, card.GetArchitecture()):
		return fmt.Errorf("%w: architecture %q is not one of task %s's (%s)", errCardMismatch, card.GetArchitecture(), t.Name, strings.Join(t.Architectures, ", "))
	}
	return nil
}
