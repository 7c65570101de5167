package reconcile

import "time"

func parseRFC3339(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
