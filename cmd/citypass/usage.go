package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// typeUsageErrors makes every error cobra itself finds in a command line a
// usage error (exit 2), as a typed value rather than by its text: a flag that
// does not parse (the root's FlagErrorFunc), a wrong number of arguments or
// an unknown command (each command's Args, wrapped here), a required flag
// missing or flags that must go together (checked here before cobra does).
// A command group gets a Run that prints its help and refuses arguments, so
// an unknown sub-command is a usage error too. It walks c and its
// sub-commands; call it once the tree is built.
func typeUsageErrors(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		if c.Args == nil {
			c.Args = unknownCommand
		}
	}
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return withCode(exitUsage, err)
			}
			return nil
		}
	}
	preE, pre := c.PreRunE, c.PreRun
	c.PreRun = nil
	c.PreRunE = func(cmd *cobra.Command, a []string) error {
		if err := cmd.ValidateRequiredFlags(); err != nil {
			return withCode(exitUsage, err)
		}
		if err := cmd.ValidateFlagGroups(); err != nil {
			return withCode(exitUsage, err)
		}
		switch {
		case preE != nil:
			return preE(cmd, a)
		case pre != nil:
			pre(cmd, a)
		}
		return nil
	}
	for _, sub := range c.Commands() {
		typeUsageErrors(sub)
	}
}

// unknownCommand refuses any argument to a command group, suggesting the
// sub-commands it may have meant.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return fmt.Errorf("%s", msg)
}
