package bench

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
)

// calibrationCards is how many cards (and taps per round) CalibrateShape uses.
const calibrationCards = 200

// CalibrateShape measures the batch shape of one steady-state gate tap on
// the ledger: it sells calibrationCards passes, taps each card once (the
// activations), then taps each again, and diffs the store's keys before and
// after the second round (opened read-only by raw Pebble while the ledger is
// closed). Keys is the mean number of keys written per tap (new or changed),
// KeyBytes and ValueBytes their mean sizes, so a raw batch of the returned
// shape carries the same bytes as the ledger's commit for one tap.
func CalibrateShape(ctx context.Context, env Env) (Shape, error) {
	dir := filepath.Join(env.Dir, "calibrate")
	f, err := openFixture(dir, calibrationCards, true)
	if err != nil {
		return Shape{}, err
	}
	if err = f.storeTariff(ctx); err == nil {
		err = f.sell(ctx, 0, calibrationCards, 8)
	}
	if err != nil {
		_ = f.Close()
		return Shape{}, err
	}
	before, err := tapRound(ctx, f, dir, "calibrate", 0)
	if err != nil {
		return Shape{}, err
	}
	if f, err = openFixture(dir, calibrationCards, false); err != nil {
		return Shape{}, err
	}
	after, err := tapRound(ctx, f, dir, "calibrate-2", 1)
	if err != nil {
		return Shape{}, err
	}
	var keys, keyBytes, valBytes int
	for k, v := range after {
		if old, ok := before[k]; ok && old == v {
			continue
		}
		keys++
		keyBytes += len(k)
		valBytes += len(v)
	}
	if keys == 0 {
		return Shape{}, fmt.Errorf("bench: calibration: taps changed no key")
	}
	s := Shape{
		Keys:       (keys + calibrationCards/2) / calibrationCards,
		KeyBytes:   (keyBytes + keys/2) / keys,
		ValueBytes: (valBytes + keys/2) / keys,
	}
	env.logf("calibrated tap batch: %d keys changed by %d taps: %s", keys, calibrationCards, s)
	return s, nil
}

// tapRound taps every calibration card once from device (each card's
// (prior+1)-th tap), closes f and returns every key and value of the store.
func tapRound(ctx context.Context, f *fixture, dir, device string, prior int) (map[string]string, error) {
	tp := f.newTapper(device, 0, 1, prior)
	var err error
	for i := 0; i < calibrationCards && err == nil; i++ {
		err = tp.tap(ctx)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return scanAll(dir)
}

// scanAll reads every key and value of the Pebble store in dir.
func scanAll(dir string) (map[string]string, error) {
	o := RawOptions()
	o.ReadOnly = true
	db, err := pebble.Open(dir, o)
	if err != nil {
		return nil, fmt.Errorf("bench: opening %s read-only: %w", dir, err)
	}
	defer db.Close()
	it, err := db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		m[string(it.Key())] = string(v)
	}
	return m, it.Close()
}
