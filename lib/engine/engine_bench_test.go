package engine

import (
	"context"
	"testing"
)

// BenchmarkConnectRunning is Connect when terok's service already runs:
// two pings and the bindings' own.
func BenchmarkConnectRunning(b *testing.B) {
	opts := benchOptions(b)
	e, err := Connect(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.StopService(context.Background()) }()
	for b.Loop() {
		c, err := Connect(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkConnectStarting is Connect when it must start the service (the
// stop after each is not timed).
func BenchmarkConnectStarting(b *testing.B) {
	opts := benchOptions(b)
	for i := 0; i < b.N; i++ {
		e, err := Connect(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if !e.StartedService() {
			b.Fatal("the service was already running")
		}
		if err := e.StopService(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func benchOptions(b *testing.B) Options {
	needPodman(b)
	dir := b.TempDir()
	return Options{
		DefaultSocket: dir + "/no-default.sock",
		ServiceSocket: dir + "/run/podman/podman.sock",
		Getenv:        func(string) string { return "" },
	}
}
