package schema

import (
	"errors"
	"fmt"
	"strconv"
)

// MoneyScale is the number of fractional decimal digits every Money carries.
// Four digits hold every ISO 4217 minor unit and unit costs quoted in
// hundredths of a cent.
const MoneyScale = 4

// moneyUnit is 10^MoneyScale.
const moneyUnit = 10000

// Money is an exact signed decimal amount: the value times 10^4, in an int64
// (±922 trillion). It is written to Parquet as DECIMAL(18,4) and to JSON as a
// number with up to four fractional digits.
type Money int64

// MoneyFromMinor returns the amount of n hundredths (cents).
func MoneyFromMinor(cents int64) Money { return Money(cents * (moneyUnit / 100)) }

// Cents returns m in hundredths, rounded half away from zero.
func (m Money) Cents() int64 {
	const d = moneyUnit / 100
	if m >= 0 {
		return int64((m + d/2) / d)
	}
	return -int64((-m + d/2) / d)
}

// Mul returns m × q (a quantity), exact.
func (m Money) Mul(q int64) Money { return m * Money(q) }

// String formats m as a plain decimal with two to four fractional digits:
// 12.5 is "12.50", 0.1234 is "0.1234".
func (m Money) String() string {
	return string(m.AppendText(nil))
}

// AppendText appends m's decimal text to b.
func (m Money) AppendText(b []byte) []byte {
	v := int64(m)
	if v < 0 {
		b = append(b, '-')
		v = -v // −2^63 cannot occur: ParseMoney refuses it.
	}
	b = strconv.AppendInt(b, v/moneyUnit, 10)
	frac := v % moneyUnit
	digits := [4]byte{byte('0' + frac/1000), byte('0' + frac/100%10), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 4
	for n > 2 && digits[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, digits[:n]...)
}

// MarshalJSON writes m as a JSON number.
func (m Money) MarshalJSON() ([]byte, error) { return m.AppendText(nil), nil }

// UnmarshalJSON reads a JSON number (or a string holding one) exactly.
func (m *Money) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	v, err := ParseMoney(b)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Errors ParseMoney returns; wrapped with the text that failed.
var (
	ErrMoneySyntax    = errors.New("not a decimal number")
	ErrMoneyPrecision = errors.New("more than 4 fractional digits")
	ErrMoneyRange     = errors.New("out of range")
)

// ParseMoney parses a decimal number such as "-12.3400", "7", "1e2" is refused:
// exponents are not money. At most four fractional digits are accepted (trailing
// zeros beyond are fine).
func ParseMoney(b []byte) (Money, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%q: %w", b, ErrMoneySyntax)
	}
	i := 0
	neg := false
	if b[0] == '-' {
		neg = true
		i++
	}
	var whole uint64
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if whole > (1<<63-1)/moneyUnit/10 {
			return 0, fmt.Errorf("%q: %w", b, ErrMoneyRange)
		}
		whole = whole*10 + uint64(b[i]-'0')
		i++
	}
	if i == start || (i-start > 1 && b[start] == '0') {
		return 0, fmt.Errorf("%q: %w", b, ErrMoneySyntax)
	}
	var frac uint64
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			d := uint64(b[i] - '0')
			if i-fs < MoneyScale {
				frac = frac*10 + d
			} else if d != 0 {
				return 0, fmt.Errorf("%q: %w", b, ErrMoneyPrecision)
			}
			i++
		}
		if i == fs {
			return 0, fmt.Errorf("%q: %w", b, ErrMoneySyntax)
		}
		for n := min(i-fs, MoneyScale); n < MoneyScale; n++ {
			frac *= 10
		}
	}
	if i != len(b) {
		return 0, fmt.Errorf("%q: %w", b, ErrMoneySyntax)
	}
	v := whole*moneyUnit + frac
	if v > 1<<63-1 {
		return 0, fmt.Errorf("%q: %w", b, ErrMoneyRange)
	}
	if neg {
		return Money(-int64(v)), nil
	}
	return Money(v), nil
}

// MaxMoney is the largest amount DECIMAL(18,4) holds (18 digits, four of
// them fractional); decoders refuse amounts beyond ±MaxMoney.
const MaxMoney Money = 999_999_999_999_999_999

// Format formats m for a person in currency: rounded half away from zero
// to the currency's minor units (MinorUnits), with thousands separated by
// commas, then the code: 9596.2886 in EUR is "9,596.29 EUR", 120450 in JPY
// "120,450 JPY". It is for display only; m.String() stays exact.
func (m Money) Format(currency string) string {
	digits := MinorUnits(currency)
	step := int64(moneyUnit)
	for range digits {
		step /= 10
	}
	v := int64(m)
	neg := v < 0
	if neg {
		v = -v // −2^63 cannot occur: ParseMoney refuses it.
	}
	v = (v + step/2) / step // in minor units, rounded half away from zero
	scale := int64(1)
	for range digits {
		scale *= 10
	}
	whole := strconv.FormatInt(v/scale, 10)
	b := make([]byte, 0, len(whole)+len(whole)/3+digits+6)
	if neg && v != 0 {
		b = append(b, '-')
	}
	for i := range len(whole) {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, whole[i])
	}
	if digits > 0 {
		frac := strconv.FormatInt(v%scale+scale, 10) // a leading 1 keeps the zeros
		b = append(b, '.')
		b = append(b, frac[1:]...)
	}
	if currency != "" {
		b = append(b, ' ')
		b = append(b, currency...)
	}
	return string(b)
}
