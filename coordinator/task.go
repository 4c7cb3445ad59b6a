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
}

// tasks are the tasks `coordinator init --task` accepts.
var tasks = map[string]Task{
	"fmnist": {Name: "fmnist", Classes: 10, InputShape: []int64{1, 28, 28}},
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

// CheckCard reports whether card fits the task: same task name, classes
// and input shape, and an architecture and device named.
func (t Task) CheckCard(card *taonetv1.ModelCard) error {
	switch {
	case card == nil:
		return fmt.Errorf("%w: no model card", errCardMismatch)
	case card.GetTask() != t.Name:
		return fmt.Errorf("%w: card task %q, network task %q", errCardMismatch, card.GetTask(), t.Name)
	case card.GetClasses() != t.Classes:
		return fmt.Errorf("%w: card has %d classes, task %s has %d", errCardMismatch, card.GetClasses(), t.Name, t.Classes)
	case !slices.Equal(card.GetInputShape(), t.InputShape):
		return fmt.Errorf("%w: card input shape %v, task %s needs %v", errCardMismatch, card.GetInputShape(), t.Name, t.InputShape)
	case card.GetArchitecture() == "" || card.GetDevice() == "":
		return fmt.Errorf("%w: card must name an architecture and a device", errCardMismatch)
	}
	return nil
}
