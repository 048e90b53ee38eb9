package cli

import "io"

// SetConfirmInput makes destructive commands read their typed confirmation
// from r, as if stdin were a terminal when terminal is true. It returns a
// function that puts the real stdin back.
func SetConfirmInput(r io.Reader, terminal bool) (restore func()) {
	in, term := confirmIn, confirmTerminal
	confirmIn, confirmTerminal = r, func() bool { return terminal }
	return func() { confirmIn, confirmTerminal = in, term }
}
