package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// progress writes the demo's progress: lines that stay, and on a terminal
// one status line that the next write replaces. Off a terminal (a log
// file, a pipe) a status is written as a line, only when its text changes.
type progress struct {
	w     io.Writer
	clock clock
	tty   bool
	last  string
	open  bool // a status line is on the terminal
}

func newProgress(w io.Writer, c clock) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, clock: c, tty: ok && term.IsTerminal(int(f.Fd()))}
}

// line writes a line that stays.
func (p *progress) line(format string, a ...any) {
	p.clear()
	fmt.Fprintf(p.w, format+"\n", a...)
}

// show shows text, after the time since the start, as the current
// status; detail (a countdown) only on a terminal, so that a log gets one
// line per change of text.
func (p *progress) show(text, detail string) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%*s  %s%s", timeCol, p.clock.stamp(), text, detail)
		p.open = true
		return
	}
	if text != p.last {
		fmt.Fprintf(p.w, "%*s  %s\n", timeCol, p.clock.stamp(), text)
	}
	p.last = text
}

// tick shows text as the status on a terminal only: a wait that the lines
// around it already tell a log about.
func (p *progress) tick(text string) {
	if p.tty {
		p.show(text, "")
	}
}

// clear removes the status line from the terminal.
func (p *progress) clear() {
	if p.tty && p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
}
