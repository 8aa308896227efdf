//go:build nodemo

package main

import (
	"context"
	"errors"
	"io"
)

// The image the add-on ships is built with the tag nodemo (.ci/build): the
// demo and the simulated Nuki Web, with the embedded broker they bring, are
// left out, so that the daemon's own pages take less memory.
var errNoDemo = errors.New("this build leaves the demo and the simulator out; from the source, run: go run ./cmd/nuki-invites demo")

func demoCommand(context.Context, []string, io.Writer, io.Writer) error { return errNoDemo }

func simulateCommand(context.Context, []string, io.Writer, io.Writer) error { return errNoDemo }
