// Package pcsctest binds a private pcscd with vsmartcard's vpcd driver
// (cardio/pcsc/pcscd) to a test, for the end-to-end tests of cardio/pcsc,
// the gate and the CLI, and plugs Go cards into it through cardio/vpcd.
//
// Start starts the daemon (one vpcd entry, two slots named
// FriendlyName+" 00 00" and " 00 01", in a private mount namespace when
// unshare works; see cardio/pcsc/pcscd) and closes it in the test's Cleanup,
// logging the end of pcscd's log when the test failed. Its failures end the
// test instead of returning errors.
//
// Where pcscd cannot run (pcscd.Available: pcscd or the vpcd driver
// missing, not root, no private namespace and the system socket taken) the
// test fails when the environment variable CI is "true" and is skipped
// otherwise.
package pcsctest
