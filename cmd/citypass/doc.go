// Command citypass binds the library packages to a command line
// (docs/semantics.md, "Command line").
//
// Layout: main.go is a dozen lines; root.go holds the global flags, the exit
// codes and the command registry; every command group is one file that
// registers its constructor in init and keeps its work in a testable function
// taking the app (flags, streams, clock). Tests run commands in-process with
// run(args, stdin, stdout, stderr) and check output and exit codes.
//
// Exit codes: 0 ok (tap: accepted), 3 tap denied, 4 reconcile match found
// discrepancies, 2 usage error, 1 any other error.
package main
