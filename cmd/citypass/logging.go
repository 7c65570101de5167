package main

import (
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// logLevelFlag adds --log-level to a long-running command (gate, hub, sync),
// whose structured JSON logs go to stderr.
func logLevelFlag(c *cobra.Command, level *string, def string) {
	c.Flags().StringVar(level, "log-level", def, "least severe `LEVEL` logged on stderr: debug, info, warn or error")
}

// newLog returns the JSON logger on w of --log-level level.
func newLog(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErr("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}
