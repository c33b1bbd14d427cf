package schema

// currencyCodes lists the active ISO 4217 codes of circulating currencies,
// sorted, four bytes apart ("AED AFN ..."). Fund codes (BOV, CHE, CHW, CLF,
// COU, MXV, USN, UYI, UYW), precious metals (XAG, XAU, XPD, XPT), bond-market
// units (XBA–XBD), SDR-like units (XDR, XSU, XUA) and the testing and
// no-currency codes (XTS, XXX) are deliberately absent: no shop takes them.
// ANG and BGN are kept for their transition periods.
const currencyCodes = "" +
	"AED AFN ALL AMD ANG AOA ARS AUD AWG AZN " +
	"BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD " +
	"CAD CDF CHF CLP CNY COP CRC CUP CVE CZK " +
	"DJF DKK DOP DZD " +
	"EGP ERN ETB EUR " +
	"FJD FKP " +
	"GBP GEL GHS GIP GMD GNF GTQ GYD " +
	"HKD HNL HTG HUF " +
	"IDR ILS INR IQD IRR ISK " +
	"JMD JOD JPY " +
	"KES KGS KHR KMF KPW KRW KWD KYD KZT " +
	"LAK LBP LKR LRD LSL LYD " +
	"MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN " +
	"NAD NGN NIO NOK NPR NZD " +
	"OMR " +
	"PAB PEN PGK PHP PKR PLN PYG " +
	"QAR " +
	"RON RSD RUB RWF " +
	"SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL " +
	"THB TJS TMT TND TOP TRY TTD TWD TZS " +
	"UAH UGX USD UYU UZS " +
	"VED VES VND VUV " +
	"WST " +
	"XAF XCD XCG XOF XPF " +
	"YER " +
	"ZAR ZMW ZWG"

// IsCurrency reports whether code is a known ISO 4217 currency code
// (upper case, as listed by ISO).
func IsCurrency(code string) bool { return isCurrency([]byte(code)) }

func isCurrency(code []byte) bool {
	if len(code) != 3 {
		return false
	}
	lo, hi := 0, (len(currencyCodes)+1)/4
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		c := currencyCodes[4*m : 4*m+3]
		switch {
		case c == string(code):
			return true
		case c < string(code):
			lo = m + 1
		default:
			hi = m
		}
	}
	return false
}

// MinorUnits returns how many decimal digits code's minor unit has (ISO
// 4217's exponent): 0 for JPY, KRW, CLP, ...; 3 for BHD, KWD, TND, ...; 2
// otherwise (EUR, USD, GBP and most others, and unknown codes).
func MinorUnits(code string) int {
	switch code {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
		"UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}
