// Package pcsc watches PC/SC readers through pcscd and hands each presented
// card to the caller as a cardio.Transmitter. It is the only package of
// citypass that imports github.com/ebfe/scard (cgo, libpcsclite).
//
// # Threads and contexts
//
// pcsc-lite wants one SCARDCONTEXT per thread, and SCardGetStatusChange holds
// its context's lock for the whole wait, so a Connect or ListReaders on the
// same context would block behind it. The package therefore keeps two kinds
// of PC/SC context:
//
//   - the monitor context, owned by the Monitor's one goroutine, which loops
//     ListReaders + GetStatusChange over a reused []scard.ReaderState with a
//     bounded timeout (Options.WaitTimeout). Close calls Cancel on it, under
//     a mutex that also guards its release, and repeats it every 50 ms until
//     the loop has ended: pcsc-lite drops a Cancel that arrives before the
//     wait has begun;
//   - card I/O contexts, one per Card while it is connected, taken from a
//     small pool and given back by Card.Close. A Card is used by one
//     goroutine at a time (its methods serialize).
//
// # Events
//
// Open starts the monitor and returns at once; Events delivers, in order,
// ServiceUp/ServiceDown, ReaderAdded/ReaderRemoved and
// CardPresent/CardRemoved. A CardPresent carries a *Card that is not yet
// connected: its first Transmit connects (shared mode, T=0 or T=1), so the
// monitor never blocks on a card. The receiver must Close every Card it gets,
// which disconnects it and returns its context to the pool.
//
// Hot-plug: pcsc-lite 1.9 does not answer the \\?PnP?\Notification entry
// reliably, so the reader list is read again after every wait; with the
// default 500 ms WaitTimeout a new reader is seen within half a second (the
// PnP entry is still watched, and ends the wait early where it works). A tap
// between two waits is not lost: the upper 16 bits of a reader's event state
// count insertions and removals, and a changed count with a card present is
// a new presentation.
//
// # Failures
//
// A card that leaves the field, is reset or stops answering during a
// transaction yields an *Error matching cardio.ErrCardRemoved: the gate shows
// "tap again" and journals nothing. Once a Card has seen that, every later
// Transmit returns the same error without calling pcscd.
//
// When pcscd stops (ErrNoService, ErrServiceStopped, or any unexpected
// failure of the monitor context), the monitor releases its context and the
// idle I/O contexts, reports CardRemoved/ReaderRemoved for what it knew and
// one ServiceDown, then establishes a new context with exponential backoff
// (Options.BackoffMin to BackoffMax). When pcscd is back it reports ServiceUp
// and the readers and cards again. IsValid is not trusted: it reports true on
// a context whose daemon has gone.
//
// A card another application holds in a transaction is not waited for:
// the package sets PCSCLITE_NO_BLOCKING (unless the environment already sets
// it) before its first PC/SC context, so libpcsclite reports
// SCARD_E_SHARING_VIOLATION at once instead of retrying forever inside a
// cgo call nothing can interrupt.
//
// # Guards against ebfe/scard's panics
//
// ebfe/scard panics on GetStatusChange with an empty slice, on Transmit with
// an empty command, and on Transmit over a connection whose protocol is
// neither T=0 nor T=1 (ShareDirect). The monitor always passes at least the
// PnP entry, Transmit refuses empty commands, and Card connects in shared mode
// and refuses any protocol other than T=0/T=1. The concurrent map write in
// its reader-name table (ebfe/scard#26) is fixed in the pinned version. As a
// last resort the calls into ebfe/scard recover a panic into an error.
package pcsc
