package tariff

import "testing"

func BenchmarkLoadSample(b *testing.B) {
	data := Sample()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Load(SampleName, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServiceDay(b *testing.B) {
	t := SampleTariff()
	at := t.DayStart(Date{2026, 11, 27})
	b.ReportAllocs()
	for b.Loop() {
		t.ServiceDay(at)
	}
}
