// Package pcsctest runs a private pcscd with vsmartcard's vpcd driver for
// end-to-end tests of cardio/pcsc and the gate, and plugs Go cards into it
// through cardio/vpcd.
//
// Start writes a reader.conf.d directory with one vpcd entry on a free pair
// of TCP ports (slot 0 and slot 1), starts `pcscd -f -c DIR` (foreground,
// never --auto-exit) and waits until both readers are listed. The test's
// Cleanup stops it by PID: SIGTERM, then SIGKILL after 3 s.
//
// pcscd's server socket path is compiled in (/run/pcscd/pcscd.comm). When the
// test runs as root and unshare(1) works, pcscd runs in a private mount
// namespace in which a per-process directory is bind-mounted on /run/pcscd,
// and this process's libpcsclite is pointed at it with PCSCLITE_CSOCK_NAME
// (set once, before the first PC/SC call). Tests in several packages, and a
// system pcscd, then do not see each other. Where unshare is not allowed the
// harness uses the system socket, serialized between processes by an flock,
// and fails if another pcscd already owns it (CITYPASS_PCSCTEST_SHARED=1
// forces this mode).
//
// Missing pcscd or vpcd driver, or no root: the test fails when the
// environment variable CI is "true" and is skipped otherwise.
package pcsctest
