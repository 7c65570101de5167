package ledger

import "sync"

// recentChanges keeps the newest durable revisions of the change log with
// the values they wrote (Options.ChangeLog), so that Changes hands them
// out without reading the store: a hub's publisher asks for each revision
// moments after it is durable, and its changed records lie scattered over
// the whole state. The writer adds a group's revisions when their WAL sync
// is done, right before it publishes their snapshot; revisions older than
// the kept ones, or newer (not added yet), are read from the store.
type recentChanges struct {
	mu     sync.Mutex
	revs   []recentRev // consecutive revisions, oldest first
	latest map[string]latestValue
	bytes  int // keys and values held in revs
	max    int
}

// recentRev is one revision: the keys it changed and the values it wrote
// (nil: deleted).
type recentRev struct {
	rev  uint64
	keys [][]byte
	vals [][]byte
}

// latestValue is a key's value as of the newest kept revision that wrote
// it.
type latestValue struct {
	rev uint64
	val []byte
}

// recentChangesBytes bounds the keys and values recentChanges keeps: a
// hub's upload of 1,000 records changes about 150 KB of state, and its
// publisher looks every 100 ms. A variable for tests.
var recentChangesBytes = 4 << 20

func newRecentChanges(max int) *recentChanges {
	return &recentChanges{latest: map[string]latestValue{}, max: max}
}

// revision returns what the transaction changed as revision rev: the keys
// logChanges listed and their final values in the transaction.
func (t *txn) revision(rev uint64) recentRev {
	r := recentRev{rev: rev, keys: t.changed, vals: make([][]byte, len(t.changed))}
	for i, k := range t.changed {
		if j, ok := t.find(k); ok {
			r.vals[i] = t.ops[j].val
		}
	}
	return r
}

// add appends durable revisions, in order. A revision that does not follow
// the newest kept one (none is expected) starts the kept ones afresh.
func (c *recentChanges) add(revs []recentRev) {
	if c == nil || len(revs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range revs {
		if n := len(c.revs); n > 0 && r.rev != c.revs[n-1].rev+1 {
			c.revs, c.bytes = nil, 0
			clear(c.latest)
		}
		c.revs = append(c.revs, r)
		c.bytes += r.size()
		for i, k := range r.keys {
			c.latest[string(k)] = latestValue{rev: r.rev, val: r.vals[i]}
		}
	}
	for c.bytes > c.max && len(c.revs) > 1 {
		old := c.revs[0]
		c.revs[0] = recentRev{}
		c.revs = c.revs[1:]
		c.bytes -= old.size()
		for _, k := range old.keys {
			if c.latest[string(k)].rev == old.rev {
				delete(c.latest, string(k))
			}
		}
	}
}

func (r *recentRev) size() int {
	n := 0
	for i := range r.keys {
		n += len(r.keys[i]) + len(r.vals[i])
	}
	return n
}

// changes returns the kept revisions from fromRev on, at most max (max <= 0:
// all), each record with its value as of the newest kept revision; ok is
// false when fromRev is not kept. The values are shared: read-only.
func (c *recentChanges) changes(fromRev uint64, max int) (out []*Change, ok bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.revs) == 0 || fromRev < c.revs[0].rev || fromRev > c.revs[len(c.revs)-1].rev {
		return nil, false
	}
	kept := c.revs[fromRev-c.revs[0].rev:]
	if max > 0 && len(kept) > max {
		kept = kept[:max]
	}
	out = make([]*Change, len(kept))
	for i := range kept {
		r := &kept[i]
		ch := &Change{Rev: r.rev, Items: make([]StateItem, len(r.keys))}
		for j, k := range r.keys {
			ch.Items[j] = StateItem{Kind: StateKind(k[0]), ID: string(k[1:]), Value: c.latest[string(k)].val}
		}
		out[i] = ch
	}
	return out, true
}
