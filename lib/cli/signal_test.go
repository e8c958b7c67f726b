package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// blockGrammar's one verb waits for its context to end, then returns what
// blockReturn says.
type blockGrammar struct {
	Block blockLeaf `cmd:"" help:"Block."`
}

type blockLeaf struct{}

var blockReturn func() error

func (blockLeaf) Run(env *Env) error {
	<-env.Ctx.Done()
	return blockReturn()
}

var blockCommand = Command{Name: "terok-block", Grammar: func() any { return &blockGrammar{} }}

func runBlocked(t *testing.T, cancel func(context.CancelCauseFunc), ret func() error) (int, string) {
	t.Helper()
	ctx, c := context.WithCancelCause(context.Background())
	var errb bytes.Buffer
	env := &Env{Ctx: ctx, Stdout: &bytes.Buffer{}, Stderr: &errb, Getenv: func(string) string { return "" }}
	blockReturn = ret
	go cancel(c)
	return Run(blockCommand, []string{"block"}, env), errb.String()
}

// A command a signal ended exits 128 + the signal (130 for Ctrl-C),
// whatever its handler returned; only the handler's own message is shown.
// Cancelled by its caller, its handler decides, and a cancellation error
// is still 130.
func TestInterruptedExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cause  error
		ret    func() error
		code   int
		stderr string
	}{
		{"nil after ctrl-c", Signal{syscall.SIGINT}, func() error { return nil }, 130, ""},
		{"sigterm", Signal{syscall.SIGTERM}, func() error { return nil }, 143, ""},
		{"cancelled by the caller, the cancellation returned", nil, func() error { return context.Canceled }, 130,
			"terok-block: context canceled\n"},
		{"cancelled by the caller, the handler ends cleanly", nil, func() error { return nil }, 0, ""},
		{"library error of the cancellation", Signal{syscall.SIGINT},
			func() error { return fmt.Errorf("get /containers: %w", context.Canceled) }, 130, ""},
		{"handler message", Signal{syscall.SIGINT},
			func() error { return Failf("interrupted; task x runs on").WithHint("login again") }, 130,
			"terok-block: interrupted; task x runs on\nhint: login again\n"},
		{"another failure", Signal{syscall.SIGINT}, func() error { return errors.New("disk full") }, 130,
			"terok-block: disk full\n"},
	} {
		code, stderr := runBlocked(t, func(c context.CancelCauseFunc) { c(tc.cause) }, tc.ret)
		if code != tc.code || stderr != tc.stderr {
			t.Errorf("%s: exit %d, stderr %q; want %d, %q", tc.name, code, stderr, tc.code, tc.stderr)
		}
	}
	if CodeOf(fmt.Errorf("x: %w", context.Canceled)) != ExitInterrupted {
		t.Error("a cancellation is 130 wherever it is met")
	}
}

// SignalContext turns SIGINT into a cancellation whose cause exits 130.
func TestSignalContext(t *testing.T) {
	ctx, stop := SignalContext(context.Background())
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGINT did not cancel the context")
	}
	if CodeOf(context.Cause(ctx)) != 130 {
		t.Fatalf("cause %v exits %d", context.Cause(ctx), CodeOf(context.Cause(ctx)))
	}
}
