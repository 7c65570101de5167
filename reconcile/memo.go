package reconcile

// memo caches a lookup by key, remembering the last answer apart: it is
// checked first, because consecutive taps mostly share venue, product and
// category, and a comparison costs less than hashing a key.
//
// Keys hold strings of journal records, which are views of the ledger's
// read buffers, valid only while their batch is (Ledger.JournalBatches).
// A memo therefore never keeps a caller's key: put stores own(key), a copy
// of the strings, and a hit in the map makes that stored copy the last key.
type memo[K comparable, V any] struct {
	m       map[K]memoEntry[K, V]
	lastKey K
	last    V
	hasLast bool
}

type memoEntry[K comparable, V any] struct {
	key K // owned
	val V
}

func newMemo[K comparable, V any]() memo[K, V] {
	return memo[K, V]{m: map[K]memoEntry[K, V]{}}
}

// get returns the value stored for k, if any.
func (c *memo[K, V]) get(k K) (V, bool) {
	if c.hasLast && k == c.lastKey {
		return c.last, true
	}
	e, ok := c.m[k]
	if ok {
		c.lastKey, c.last, c.hasLast = e.key, e.val, true
	}
	return e.val, ok
}

// put stores v for k, which own copies (so that k may be a view).
func (c *memo[K, V]) put(k K, own func(K) K, v V) {
	k = own(k)
	c.m[k] = memoEntry[K, V]{k, v}
	c.lastKey, c.last, c.hasLast = k, v, true
}
