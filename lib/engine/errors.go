package engine

// SetupError says the host lacks something terok needs to reach Podman;
// Fix names the remedy. Commands report it as "host not set up" (exit 3)
// with Fix as the hint.
type SetupError struct {
	Msg string
	Fix string
	Err error // the cause, if any
}

func (e *SetupError) Error() string { return e.Msg }
func (e *SetupError) Unwrap() error { return e.Err }

// ExitCode is terok's "host not set up" exit status.
func (e *SetupError) ExitCode() int { return 3 }

// Hint is the fix, for error reporters that print a hint line.
func (e *SetupError) Hint() string { return e.Fix }
