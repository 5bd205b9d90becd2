package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal: it decides between text and JSON logs (serve) and
// whether migrate draws a progress bar. It asks the terminal driver (x/term), so a character
// device that is not a terminal, such as /dev/null, is not one.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
