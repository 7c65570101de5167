// Package pcscd runs a private pcscd with vsmartcard's vpcd driver, so that
// cards implemented in Go (cardio/virtual, through cardio/vpcd) reach the
// real PC/SC stack: libpcsclite, pcscd, the vpcd reader driver. The tests of
// cardio/pcsc, gate/pcscgate and cmd/citypass use it through pcsctest; the demo
// uses it for `citypass demo --pcsc`.
//
// Start writes a reader.conf.d directory with one vpcd entry on a free pair
// of TCP ports (slot 0 and slot 1), starts `pcscd -f -c DIR` (foreground, never --auto-exit, which
// would make pcscd quit a minute after its last client left) and waits until
// both slots are listed. Stop stops it by PID: SIGTERM, then SIGKILL after
// Options.StopGrace; Restart starts it again on the same ports; Close stops
// it for good and frees what Start took.
//
// pcscd's server socket path is compiled in (/run/pcscd/pcscd.comm). When
// this process runs as root and unshare(1) works, pcscd runs in a private
// mount namespace in which a per-process directory is bind-mounted on
// /run/pcscd, and this process's libpcsclite is pointed at it with
// PCSCLITE_CSOCK_NAME (set once, before the first PC/SC call: libpcsclite
// reads it once). Several processes, and a system pcscd, then do not see each
// other. Where unshare is not allowed the system socket is used, serialized
// between processes by an flock, and Available fails if another pcscd
// already owns it (CITYPASS_PCSCTEST_SHARED=1 forces this mode). One Daemon
// runs at a time per process: Start waits until the previous one is closed.
//
// Available says why none of this can run here: pcscd or the vpcd driver
// missing, not root, or no private namespace and the system socket taken.
//
// pcscd polls a vpcd slot every 400 ms (PCSCLITE_STATUS_POLL_RATE): a card
// inserted through vpcd is seen within 0.4 s, and a removal followed by the
// next insertion on the same slot takes two polls, 0.8 s. Once present, one
// APDU round trip takes about 0.15 ms (see cardio/vpcd on TCP_QUICKACK).
package pcscd
