package tariff

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const (
	iban1 = "FR7630006000011234567890189"
	bic1  = "AGRIFRPP"
)

// TestValidation: one case per error class of docs/semantics.md ("Loading"), each an edit of
// baseTOML, with the exact "FILE:LINE: message" lines expected.
func TestValidation(t *testing.T) {
	cases := []struct {
		name  string
		edits []string
		want  []string
	}{
		// unknown keys
		{"unknown top-level key", []string{"service_day_starts = \"04:30\"\n", "service_day_starts = \"04:30\"\ncolour = \"blue\"\n"}, []string{
			"f.toml:7: unknown key \"colour\"",
		}},
		{"unknown key in partner", []string{"bic = \"AGRIFRPP\"\n", "bic = \"AGRIFRPP\"\nswift = \"AGRIFRPP\"\n"}, []string{
			"f.toml:13: partner \"mucem\": unknown key \"swift\"",
		}},
		{"unknown key in venue", []string{"gate_price = \"11.00\"\n", "gate_price = \"11.00\"\nopens = \"10:00\"\n"}, []string{
			"f.toml:26: venue \"mucem\": unknown key \"opens\"",
		}},
		{"unknown key in product", []string{"refund = \"unused\"\n", "refund = \"unused\"\nrefundable = true\n"}, []string{
			"f.toml:44: product \"cp24-adult\": unknown key \"refundable\"",
		}},
		{"unknown key in include", []string{"limit = \"once\"\n", "limit = \"once\"\nlimits = \"twice\"\n"}, []string{
			"f.toml:48: product \"cp24-adult\" include #1: unknown key \"limits\"",
		}},
		{"unknown key in contract", []string{"cap = \"20000.00\"\n", "cap = \"20000.00\"\nfloor = \"10.00\"\n"}, []string{
			"f.toml:60: contract \"mucem\": unknown key \"floor\"",
		}},
		{"unknown table", []string{"[[partner]]\nid = \"rtm\"", "[[partners]]\nid = \"rtm\""}, []string{
			"f.toml:14: unknown key \"partners\"",
			"f.toml:29: venue \"rtm-metro\": partner: unknown partner \"rtm\"",
			"f.toml:62: contract \"rtm\": partner: unknown partner \"rtm\"",
		}},
		{"unknown sub-table of include", []string{"passback = \"18m\"\n", "passback = \"18m\"\nextra.colour = \"red\"\n"}, []string{
			"f.toml:53: product \"cp24-adult\" include #2: unknown key \"extra\"",
		}},
		// wrong types
		{"schema as string", []string{"schema = 1", "schema = \"1\""}, []string{
			"f.toml:1: schema: want an integer, got a string",
		}},
		{"name as integer", []string{"name = \"MuCEM\"\niban", "name = 5\niban"}, []string{
			"f.toml:10: partner \"mucem\": name: want a string, got an integer",
		}},
		{"price as float", []string{"price = \"32.00\"", "price = 32.5"}, []string{
			"f.toml:37: product \"cp24-adult\": price: write decimals as a string (price = \"32.5\"), never as a float",
		}},
		{"price as boolean", []string{"price = \"32.00\"", "price = true"}, []string{
			"f.toml:37: product \"cp24-adult\": price: want a decimal string like \"12.50\", got a boolean",
		}},
		{"venues as string", []string{"venues = [\"mucem\"]", "venues = \"mucem\""}, []string{
			"f.toml:46: product \"cp24-adult\" include #1: venues: want an array of strings, got a string",
		}},
		{"kinds with integer", []string{"kinds = [\"transit\"]", "kinds = [\"transit\", 3]"}, []string{
			"f.toml:50: product \"cp24-adult\" include #2: kinds: want an array of strings, found an integer",
		}},
		{"rates as string", []string{"rates = { adult = \"8.00\", child = \"4.00\" }", "rates = \"8.00\""}, []string{
			"f.toml:57: contract \"mucem\": rates: want a table, got a string",
		}},
		{"partner as table", []string{"[[partner]]\nid = \"mucem\"", "[partner]\nid = \"mucem\""}, []string{
			"f.toml:8: partner: want an array of tables ([[partner]]), got a table",
			"f.toml:14: [[partner]]: key \"partner\" is already defined as a table on line 8",
			"f.toml:22: venue \"mucem\": partner: unknown partner \"mucem\"",
			"f.toml:29: venue \"rtm-metro\": partner: unknown partner \"rtm\"",
			"f.toml:55: contract \"mucem\": partner: unknown partner \"mucem\"",
			"f.toml:62: contract \"rtm\": partner: unknown partner \"rtm\"",
		}},
		{"timezone as integer", []string{"timezone = \"Europe/Paris\"", "timezone = 1"}, []string{
			"f.toml:5: timezone: want a string, got an integer",
		}},
		{"limit as boolean", []string{"limit = \"once\"", "limit = true"}, []string{
			"f.toml:47: product \"cp24-adult\" include #1: limit: want a string (once | once_per_day | unlimited | \"<n>\"), got boolean",
		}},
		// missing required keys
		{"missing top-level id", []string{"id = \"t1\"\n", ""}, []string{
			"f.toml:1: missing required key \"id\"",
		}},
		{"missing iban", []string{"iban = \"FR7630006000011234567890189\"\n", ""}, []string{
			"f.toml:8: partner \"mucem\": missing required key \"iban\"",
		}},
		{"missing venue kind", []string{"kind = \"museum\"\n", ""}, []string{
			"f.toml:20: venue \"mucem\": missing required key \"kind\"",
		}},
		{"missing product price", []string{"price = \"32.00\"\n", ""}, []string{
			"f.toml:33: product \"cp24-adult\": missing required key \"price\"",
		}},
		{"missing activate_within for first_use", []string{"activate_within = \"365d\"\n", ""}, []string{
			"f.toml:33: product \"cp24-adult\": missing required key \"activate_within\"",
		}},
		{"missing contract period", []string{"period = \"month\"\n", ""}, []string{
			"f.toml:54: contract \"mucem\": missing required key \"period\"",
		}},
		{"no include", []string{"[[product.include]]\nvenues = [\"mucem\"]\nlimit = \"once\"\n\n[[product.include]]\nkinds = [\"transit\"]\nzones = [\"marseille\"]\npassback = \"18m\"\n", ""}, []string{
			"f.toml:33: product \"cp24-adult\": no [[product.include]]: the product would open no gate",
		}},
		// unknown references
		{"venue of unknown partner", []string{"partner = \"mucem\"\nkind", "partner = \"nobody\"\nkind"}, []string{
			"f.toml:22: venue \"mucem\": partner: unknown partner \"nobody\"",
		}},
		{"include of unknown venue", []string{"venues = [\"mucem\"]", "venues = [\"mucem\",\n  \"chateau-if\"]"}, []string{
			"f.toml:47: product \"cp24-adult\" include #1: venues: unknown venue \"chateau-if\"",
		}},
		{"contract for unknown partner", []string{"partner = \"mucem\"\nmodel", "partner = \"louvre\"\nmodel"}, []string{
			"f.toml:55: contract \"louvre\": partner: unknown partner \"louvre\"",
		}},
		// duplicate ids
		{"duplicate partner", []string{"id = \"rtm\"\nname", "id = \"mucem\"\nname"}, []string{
			"f.toml:15: partner \"mucem\": duplicate partner id \"mucem\" (first on line 9)",
			"f.toml:29: venue \"rtm-metro\": partner: unknown partner \"rtm\"",
			"f.toml:62: contract \"rtm\": partner: unknown partner \"rtm\"",
		}},
		{"duplicate venue", []string{"id = \"rtm-metro\"", "id = \"mucem\""}, []string{
			"f.toml:28: venue \"mucem\": duplicate venue id \"mucem\" (first on line 21)",
		}},
		{"duplicate product", []string{"[[contract]]\npartner = \"mucem\"", "[[product]]\nid = \"cp24-adult\"\nname = \"again\"\ncategory = \"adult\"\nprice = \"1.00\"\nvat_rate = \"10\"\nclock = \"elapsed\"\nduration = \"1h\"\nactivation = \"at_sale\"\nrefund = \"none\"\n[[product.include]]\nvenues = [\"mucem\"]\n\n[[contract]]\npartner = \"mucem\""}, []string{
			"f.toml:55: product \"cp24-adult\": duplicate product id \"cp24-adult\" (first on line 34)",
		}},
		{"two contracts for one partner", []string{"partner = \"rtm\"\nmodel = \"per_pass_day\"", "partner = \"mucem\"\nmodel = \"per_pass_day\""}, []string{
			"f.toml:62: contract \"mucem\": partner \"mucem\" already has a contract in this version (line 55)",
		}},
		{"duplicate TOML key", []string{"name = \"MuCEM\"\niban", "name = \"MuCEM\"\nname = \"Mucem\"\niban"}, []string{
			"f.toml:11: key \"name\" is defined twice (first on line 10)",
		}},
		{"table defined twice", []string{"service_day_starts = \"04:30\"\n", "service_day_starts = \"04:30\"\n[x]\n[x]\n"}, []string{
			"f.toml:7: unknown key \"x\"",
			"f.toml:8: [x]: key \"x\" is already defined as a table on line 7",
		}},
		// bank details
		{"bad IBAN check digits", []string{iban1, "FR7730006000011234567890189"}, []string{
			"f.toml:11: partner \"mucem\": iban: IBAN \"FR7730006000011234567890189\": check digits do not match (ISO 13616 mod-97)",
		}},
		{"IBAN wrong length", []string{iban1, "FR763000600001123456789018"}, []string{
			"f.toml:11: partner \"mucem\": iban: IBAN \"FR763000600001123456789018\": a FR IBAN has 27 characters, not 26",
		}},
		{"IBAN bad characters", []string{iban1, "FR76-3000-6000-0112-3456-7890-189"}, []string{
			"f.toml:11: partner \"mucem\": iban: IBAN \"FR76-3000-6000-0112-3456-7890-189\": only letters and digits are allowed",
		}},
		{"bad BIC", []string{bic1, "AGRI1RPP"}, []string{
			"f.toml:12: partner \"mucem\": bic: BIC \"AGRI1RPP\": want 4 letters (bank), 2 letters (country), 2 letters or digits (location), optional 3 (branch)",
		}},
		{"BIC length", []string{bic1, "AGRIFRPP1"}, []string{
			"f.toml:12: partner \"mucem\": bic: BIC \"AGRIFRPP1\": want 8 or 11 characters",
		}},
		// money
		{"price with 3 decimals", []string{"price = \"32.00\"", "price = \"32.001\""}, []string{
			"f.toml:37: product \"cp24-adult\": price: amount \"32.001\" has more than 2 decimal places",
		}},
		{"rate with 3 decimals", []string{"adult = \"8.00\"", "adult = \"8.005\""}, []string{
			"f.toml:57: contract \"mucem\" rates: adult: amount \"8.005\" has more than 2 decimal places",
		}},
		{"cap with 3 decimals", []string{"cap = \"20000.00\"", "cap = \"20000.000\""}, []string{
			"f.toml:59: contract \"mucem\": cap: amount \"20000.000\" has more than 2 decimal places",
		}},
		{"not a number", []string{"price = \"32.00\"", "price = \"32,00\""}, []string{
			"f.toml:37: product \"cp24-adult\": price: \"32,00\" is not a decimal number",
		}},
		{"exponent refused", []string{"price = \"32.00\"", "price = \"3.2e1\""}, []string{
			"f.toml:37: product \"cp24-adult\": price: \"3.2e1\" is not a decimal number",
		}},
		{"negative price", []string{"price = \"32.00\"", "price = \"-32.00\""}, []string{
			"f.toml:37: product \"cp24-adult\": price: amount \"-32.00\" is negative",
		}},
		{"negative gate price", []string{"gate_price = \"11.00\"", "gate_price = -11"}, []string{
			"f.toml:25: venue \"mucem\": gate_price: amount \"-11\" is negative",
		}},
		{"negative rate", []string{"adult = \"4.20\"", "adult = \"-4.20\""}, []string{
			"f.toml:64: contract \"rtm\" rates: adult: amount \"-4.20\" is negative",
		}},
		{"negative vat", []string{"vat_rate = \"10\"", "vat_rate = \"-10\""}, []string{
			"f.toml:38: product \"cp24-adult\": vat_rate: percent \"-10\" is negative",
		}},
		{"vat above 100", []string{"vat_rate = \"10\"", "vat_rate = \"110\""}, []string{
			"f.toml:38: product \"cp24-adult\": vat_rate: percent \"110\" is above 100",
		}},
		// time zone, dates, clock times
		{"unknown time zone", []string{"Europe/Paris", "Europe/Marseille"}, []string{
			"f.toml:5: timezone: unknown time zone \"Europe/Marseille\"",
		}},
		{"Local time zone", []string{"Europe/Paris", "Local"}, []string{
			"f.toml:5: timezone: \"Local\" is not an IANA time zone (e.g. \"Europe/Paris\")",
		}},
		{"bad effective_from", []string{"2026-01-01", "2026-13-01"}, []string{
			"f.toml:3: effective_from: date \"2026-13-01\": want YYYY-MM-DD",
		}},
		{"effective_from as date-time", []string{"effective_from = \"2026-01-01\"", "effective_from = 2026-01-01T00:00:00Z"}, []string{
			"f.toml:3: effective_from: want a date \"YYYY-MM-DD\", got a date-time",
		}},
		{"service_day_starts without leading zero", []string{"\"04:30\"", "\"4:30\""}, []string{
			"f.toml:6: service_day_starts: \"4:30\": want HH:MM between 00:00 and 23:59",
		}},
		{"service_day_starts 24:00", []string{"\"04:30\"", "\"24:00\""}, []string{
			"f.toml:6: service_day_starts: \"24:00\": want HH:MM between 00:00 and 23:59",
		}},
		{"schema 2", []string{"schema = 1", "schema = 2"}, []string{
			"f.toml:1: schema = 2: this citypass reads schema 1 only",
		}},
		{"currency lower case", []string{"\"EUR\"", "\"eur\""}, []string{
			"f.toml:4: currency \"eur\": want an ISO 4217 code, 3 capital letters (\"EUR\")",
		}},
		{"currency too long", []string{"\"EUR\"", "\"EURO\""}, []string{
			"f.toml:4: currency \"EURO\": want an ISO 4217 code, 3 capital letters (\"EUR\")",
		}},
		// enums
		{"bad kind", []string{"kind = \"museum\"", "kind = \"gallery\""}, []string{
			"f.toml:23: venue \"mucem\": kind: \"gallery\" is not one of museum | attraction | tour | transit",
		}},
		{"bad kinds element", []string{"kinds = [\"transit\"]", "kinds = [\"metro\"]"}, []string{
			"f.toml:50: product \"cp24-adult\" include #2: kinds: \"metro\" is not one of museum | attraction | tour | transit",
		}},
		{"bad clock", []string{"clock = \"elapsed\"", "clock = \"wall\""}, []string{
			"f.toml:39: product \"cp24-adult\": clock: \"wall\" is not one of elapsed | calendar_days | fixed",
		}},
		{"bad activation", []string{"activation = \"first_use\"", "activation = \"first_tap\""}, []string{
			"f.toml:41: product \"cp24-adult\": activation: \"first_tap\" is not one of first_use | first_venue | at_sale | fixed_start",
		}},
		{"bad refund", []string{"refund = \"unused\"", "refund = \"always\""}, []string{
			"f.toml:43: product \"cp24-adult\": refund: \"always\" is not one of unused | none",
		}},
		{"bad limit", []string{"limit = \"once\"", "limit = \"twice\""}, []string{
			"f.toml:47: product \"cp24-adult\" include #1: limit: \"twice\" is not one of once | once_per_day | unlimited | \"<n>\" (1 to 10000 entries per validity)",
		}},
		{"limit zero", []string{"limit = \"once\"", "limit = \"0\""}, []string{
			"f.toml:47: product \"cp24-adult\" include #1: limit: \"0\" is not one of once | once_per_day | unlimited | \"<n>\" (1 to 10000 entries per validity)",
		}},
		{"bad passback_scope", []string{"passback = \"18m\"\n", "passback = \"18m\"\npassback_scope = \"line\"\n"}, []string{
			"f.toml:53: product \"cp24-adult\" include #2: passback_scope: \"line\" is not one of gate | venue | system",
		}},
		{"bad passback_mode", []string{"passback = \"18m\"\n", "passback = \"18m\"\npassback_mode = \"strict\"\n"}, []string{
			"f.toml:53: product \"cp24-adult\" include #2: passback_mode: \"strict\" is not one of hard | soft",
		}},
		{"bad model", []string{"model = \"per_visit\"", "model = \"per_entry\""}, []string{
			"f.toml:56: contract \"mucem\": model: \"per_entry\" is not one of per_visit | percent_of_gate | per_pass_day | flat",
		}},
		{"bad period", []string{"period = \"month\"", "period = \"quarter\""}, []string{
			"f.toml:58: contract \"mucem\": period: \"quarter\" is not one of day | week | month",
		}},
		// durations
		{"duration with words", []string{"duration = \"24h\"", "duration = \"24 hours\""}, []string{
			"f.toml:40: product \"cp24-adult\": duration: duration \"24 hours\": unknown unit \" hours\": want d, h, m, s, ms, us or ns",
		}},
		{"duration without unit", []string{"passback = \"18m\"", "passback = \"18\""}, []string{
			"f.toml:52: product \"cp24-adult\" include #2: passback: duration \"18\": missing unit: d, h, m, s, ms, us or ns (e.g. \"18m\", \"24h\", \"30d\")",
		}},
		{"duration in years", []string{"activate_within = \"365d\"", "activate_within = \"1y\""}, []string{
			"f.toml:42: product \"cp24-adult\": activate_within: duration \"1y\": unknown unit \"y\": want d, h, m, s, ms, us or ns",
		}},
		{"zero passback", []string{"passback = \"18m\"", "passback = \"0m\""}, []string{
			"f.toml:52: product \"cp24-adult\" include #2: passback: duration \"0m\" must be positive",
		}},
		{"negative duration", []string{"duration = \"24h\"", "duration = \"-24h\""}, []string{
			"f.toml:40: product \"cp24-adult\": duration: duration \"-24h\": write it without a sign; durations are never negative",
		}},
		{"calendar days in hours", []string{"clock = \"elapsed\"", "clock = \"calendar_days\""}, []string{
			"f.toml:40: product \"cp24-adult\": duration: duration \"24h\": a calendar_days product counts service days: want \"<n>d\", e.g. \"3d\"",
		}},
		{"fixed clock with first_use", []string{"clock = \"elapsed\"", "clock = \"fixed\""}, []string{
			"f.toml:41: product \"cp24-adult\": activation: a clock \"fixed\" product starts at its fixed start: want activation \"fixed_start\", not \"first_use\"",
		}},
		{"fixed_start with elapsed clock", []string{"activation = \"first_use\"", "activation = \"fixed_start\""}, []string{
			"f.toml:39: product \"cp24-adult\": clock: activation \"fixed_start\" needs clock \"fixed\", not \"elapsed\"",
		}},
		// includes
		{"include matches no venue", []string{"zones = [\"marseille\"]", "zones = [\"aix\"]"}, []string{
			"f.toml:49: product \"cp24-adult\" include #2: matches no venue (venues [], kinds [transit], zones [aix])",
		}},
		{"include without venues or kinds", []string{"venues = [\"mucem\"]\n", ""}, []string{
			"f.toml:45: product \"cp24-adult\" include #1: give venues (by id) or kinds, or both",
		}},
		// ids
		{"id with slash", []string{"id = \"rtm-metro\"", "id = \"rtm/metro\""}, []string{
			"f.toml:28: venue #2: id: \"rtm/metro\": use letters, digits, '-', '_' or '.', starting with a letter or digit",
		}},
		{"empty id", []string{"id = \"t1\"", "id = \"\""}, []string{
			"f.toml:2: id: must not be empty",
		}},
		// contract models
		{"per_visit without rates", []string{"rates = { adult = \"8.00\", child = \"4.00\" }\n", ""}, []string{
			"f.toml:54: contract \"mucem\": missing required key \"rates\"",
		}},
		{"per_visit with empty rates", []string{"rates = { adult = \"8.00\", child = \"4.00\" }", "rates = {}"}, []string{
			"f.toml:57: contract \"mucem\": rates: give an amount per product category (adult = \"8.00\")",
		}},
		{"no rate for a category that enters", []string{"rates = { adult = \"8.00\", child = \"4.00\" }", "rates = { child = \"4.00\" }"}, []string{
			"f.toml:57: contract \"mucem\": rates: no rate for category \"adult\" (product \"cp24-adult\" enters venue \"mucem\")",
		}},
		{"percent_of_gate without percent", []string{"model = \"per_visit\"\nrates = { adult = \"8.00\", child = \"4.00\" }", "model = \"percent_of_gate\""}, []string{
			"f.toml:54: contract \"mucem\": missing required key \"percent\"",
		}},
		{"percent_of_gate venue without gate_price", []string{"model = \"per_pass_day\"\nrates = { adult = \"4.20\" }", "model = \"percent_of_gate\"\npercent = \"50\""}, []string{
			"f.toml:27: venue \"rtm-metro\": gate_price is required: its partner \"rtm\" is paid percent_of_gate",
		}},
		{"percent above 100", []string{"model = \"per_visit\"\nrates = { adult = \"8.00\", child = \"4.00\" }", "model = \"percent_of_gate\"\npercent = \"150\""}, []string{
			"f.toml:57: contract \"mucem\": percent: percent \"150\" is above 100",
		}},
		{"flat without amount", []string{"model = \"per_pass_day\"\nrates = { adult = \"4.20\" }", "model = \"flat\""}, []string{
			"f.toml:61: contract \"rtm\": missing required key \"amount\"",
		}},
		{"flat with rates and cap", []string{"model = \"per_visit\"", "model = \"flat\"\namount = \"100.00\""}, []string{
			"f.toml:58: contract \"mucem\": rates: not used by model \"flat\"",
			"f.toml:60: contract \"mucem\": cap: a flat contract pays its amount; a cap does not apply",
		}},
		{"per_visit with percent and amount", []string{"cap = \"20000.00\"\n", "cap = \"20000.00\"\npercent = \"10\"\namount = \"5.00\"\n"}, []string{
			"f.toml:60: contract \"mucem\": percent: not used by model \"per_visit\"",
			"f.toml:61: contract \"mucem\": amount: not used by model \"per_visit\"",
		}},
		// limits (issue 20 items 8 and 12)
		{"price too large for minor units", []string{"price = \"32.00\"", "price = \"99999999999999999999.00\""}, []string{
			"f.toml:37: product \"cp24-adult\": price: amount \"99999999999999999999.00\" is above the largest amount, 999999999.99",
		}},
		{"rate too large", []string{"rates = { adult = \"4.20\" }", "rates = { adult = \"1000000000.00\" }"}, []string{
			"f.toml:64: contract \"rtm\" rates: adult: amount \"1000000000.00\" is above the largest amount, 999999999.99",
		}},
		{"control characters in names", []string{"name = \"MuCEM\"\niban", "name = \"Mu\\u001b[31mCEM\"\niban"}, []string{
			"f.toml:10: partner \"mucem\": name: name \"Mu\\x1b[31mCEM\" contains a control character (U+001B)",
		}},
		{"newline in a product name", []string{"name = \"City Pass 24 h\"", "name = \"City Pass\\n24 h\""}, []string{
			"f.toml:35: product \"cp24-adult\": name: name \"City Pass\\n24 h\" contains a control character (U+000A)",
		}},
		{"name too long", []string{"kind = \"museum\"\nname = \"MuCEM\"", "kind = \"museum\"\nname = \"" + strings.Repeat("M", 141) + "\""}, []string{
			"f.toml:24: venue \"mucem\": name: name is 141 characters long, the most is 140",
		}},
		{"effective date out of range", []string{"effective_from = \"2026-01-01\"", "effective_from = \"9999-01-01\""}, []string{
			"f.toml:3: effective_from: 9999-01-01 is not between years 2000 and 2200",
		}},
		{"duration too long", []string{"activate_within = \"365d\"", "activate_within = \"100000d\""}, []string{
			"f.toml:42: product \"cp24-adult\": activate_within: duration \"100000d\" is longer than 3660 days",
		}},
		// offline policy (docs/semantics.md, "Offline policy")
		{"unknown key in offline", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[product.offline]\nmax_stale = \"30m\"\n"}, []string{
			"f.toml:45: product \"cp24-adult\" offline: unknown key \"max_stale\"",
		}},
		{"max_staleness not a duration", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[product.offline]\nmax_staleness = \"half an hour\"\n"}, []string{
			"f.toml:45: product \"cp24-adult\" offline: max_staleness: duration \"half an hour\": want a number followed by a unit: d, h, m, s, ms, us or ns (e.g. \"18m\", \"24h\", \"30d\")",
		}},
		{"max_staleness as integer", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[product.offline]\nmax_staleness = 30\n"}, []string{
			"f.toml:45: product \"cp24-adult\" offline: max_staleness: want a string, got an integer",
		}},
		{"max_staleness zero", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[product.offline]\nmax_staleness = \"0s\"\n"}, []string{
			"f.toml:45: product \"cp24-adult\" offline: max_staleness: duration \"0s\" must be positive",
		}},
		{"max_staleness negative", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[product.offline]\nmax_staleness = \"-30m\"\n"}, []string{
			"f.toml:45: product \"cp24-adult\" offline: max_staleness: duration \"-30m\": write it without a sign; durations are never negative",
		}},
		{"max_staleness too short", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[product.offline]\nmax_staleness = \"59s\"\n"}, []string{
			"f.toml:45: product \"cp24-adult\" offline: max_staleness: duration \"59s\" is shorter than 1m: a connected node's state is up to 10 s old between heartbeats",
		}},
		{"max_staleness absurd", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[product.offline]\nmax_staleness = \"720h1ns\"\n"}, []string{
			"f.toml:45: product \"cp24-adult\" offline: max_staleness: duration \"720h1ns\" is longer than 30 days",
		}},
		{"unknown when_stale", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[product.offline]\nwhen_stale = \"warn\"\n"}, []string{
			"f.toml:45: product \"cp24-adult\" offline: when_stale: \"warn\" is not one of accept | deny",
		}},
		{"offline as string", []string{"refund = \"unused\"\n", "refund = \"unused\"\noffline = \"deny\"\n"}, []string{
			"f.toml:44: product \"cp24-adult\": offline: want a table, got a string",
		}},
		{"offline as array of tables", []string{"refund = \"unused\"\n", "refund = \"unused\"\n[[product.offline]]\nwhen_stale = \"deny\"\n"}, []string{
			"f.toml:44: product \"cp24-adult\": offline: want a table, got an array of tables",
		}},
		{"every offline problem at once", []string{"refund = \"unused\"\n", "refund = \"unused\"\noffline = { max_staleness = \"31d\", when_stale = \"maybe\", grace = \"5m\" }\n"}, []string{
			"f.toml:44: product \"cp24-adult\" offline: max_staleness: duration \"31d\" is longer than 30 days",
			"f.toml:44: product \"cp24-adult\" offline: when_stale: \"maybe\" is not one of accept | deny",
			"f.toml:44: product \"cp24-adult\" offline: unknown key \"grace\"",
		}},
		// syntax
		{"unterminated string", []string{"price = \"32.00\"", "price = \"32.00"}, []string{
			"f.toml:37: TOML syntax: basic strings cannot have new lines",
		}},
		{"missing equals", []string{"price = \"32.00\"", "price \"32.00\""}, []string{
			"f.toml:37: TOML syntax: expected '=' after key",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("f.toml", []byte(edit(t, tc.edits...)))
			got := errLines(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
