package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ErrNoDot means Graphviz's dot program is not on PATH.
var ErrNoDot = errors.New("graphviz's dot program is not installed")

// SVG renders dot text to SVG with Graphviz: `dot -Tsvg`, the text on its
// stdin. It returns ErrNoDot (wrapped) when dot is missing.
func SVG(ctx context.Context, dot []byte) ([]byte, error) {
	path, err := exec.LookPath("dot")
	if err != nil {
		return nil, fmt.Errorf("render svg: %w", ErrNoDot)
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "-Tsvg")
	cmd.Stdin = bytes.NewReader(dot)
	cmd.Stdout = &out
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return nil, fmt.Errorf("render svg: %s -Tsvg: %w: %s", path, err, msg)
		}
		return nil, fmt.Errorf("render svg: %s -Tsvg: %w", path, err)
	}
	return out.Bytes(), nil
}
