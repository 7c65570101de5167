package tariff

import (
	"fmt"
	"strings"
)

// ibanLengths is the IBAN length of the SEPA countries (ISO 13616 registry).
// An IBAN of a country not listed is checked for shape and check digits only.
var ibanLengths = map[string]int{
	"AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
	"DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27,
	"HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20,
	"LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24,
	"SE": 24, "SI": 19, "SK": 24, "SM": 27, "VA": 22,
}

// NormalizeIBAN removes spaces and upper-cases an IBAN, then checks it per
// ISO 13616: country code, two check digits, an alphanumeric BBAN, the
// country's length where known, and the mod-97 check (remainder 1).
func NormalizeIBAN(s string) (string, error) {
	iban := strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if len(iban) < 15 || len(iban) > 34 {
		return "", fmt.Errorf("IBAN %q: want 15 to 34 characters", s)
	}
	for i := 0; i < len(iban); i++ {
		c := iban[i]
		switch {
		case i < 2 && (c < 'A' || c > 'Z'):
			return "", fmt.Errorf("IBAN %q: want a two-letter country code first", s)
		case i >= 2 && i < 4 && (c < '0' || c > '9'):
			return "", fmt.Errorf("IBAN %q: want two check digits after the country code", s)
		case !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'):
			return "", fmt.Errorf("IBAN %q: only letters and digits are allowed", s)
		}
	}
	if n, ok := ibanLengths[iban[:2]]; ok && len(iban) != n {
		return "", fmt.Errorf("IBAN %q: a %s IBAN has %d characters, not %d", s, iban[:2], n, len(iban))
	}
	// Move the first four characters to the end, read letters as 10..35 and
	// take the number mod 97, digit by digit.
	rearranged := iban[4:] + iban[:4]
	rem := 0
	for i := 0; i < len(rearranged); i++ {
		c := rearranged[i]
		if c >= 'A' {
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	if rem != 1 {
		return "", fmt.Errorf("IBAN %q: check digits do not match (ISO 13616 mod-97)", s)
	}
	return iban, nil
}

// NormalizeBIC upper-cases a BIC (ISO 9362) and checks its shape: 4 letters
// (institution), 2 letters (country), 2 letters or digits (location), and an
// optional 3 letters or digits (branch).
func NormalizeBIC(s string) (string, error) {
	bic := strings.ToUpper(strings.TrimSpace(s))
	if len(bic) != 8 && len(bic) != 11 {
		return "", fmt.Errorf("BIC %q: want 8 or 11 characters", s)
	}
	for i := 0; i < len(bic); i++ {
		c := bic[i]
		letter := c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9'
		if i < 6 && !letter || i >= 6 && !letter && !digit {
			return "", fmt.Errorf("BIC %q: want 4 letters (bank), 2 letters (country), 2 letters or digits (location), optional 3 (branch)", s)
		}
	}
	return bic, nil
}
