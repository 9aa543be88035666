//! Money in integer minor units of an ISO 4217 currency: parsing what people type,
//! formatting for pages, and conversion at an exchange rate, all without floats.

use std::fmt;

/// The largest amount one line may carry in the organisation's currency, in major units,
/// unless its policy says otherwise (a typo guard).
pub const MAX_LINE_MAJOR: i64 = 1_000_000;
/// The most a policy may let one line carry, in major units: enough for currencies of
/// small units (a billion rupiah is about 48,000 GBP), small enough that sums of many
/// claims stay far inside an i64.
pub const MAX_LINE_SETTABLE_MAJOR: i64 = 1_000_000_000;
/// Digits before the point of a typed amount. A receipt in its own currency is bounded
/// only so the arithmetic stays in range: IDR 1,500,000 is about 70 GBP, so a guard in
/// the receipt's currency would refuse ordinary receipts. The line converted to the
/// organisation's currency is held to [`MAX_LINE_MAJOR`].
const AMOUNT_WHOLE_DIGITS: usize = 12;
/// Exchange rates carry twelve decimal places (`rate_e12 = rate * 10^12`), so even a
/// currency worth a hundred-thousandth of the base keeps six significant digits.
pub const RATE_DECIMALS: u32 = 12;
/// The rate of a currency to itself: 1, as stored.
pub const RATE_ONE: i64 = 10i64.pow(RATE_DECIMALS);
/// Digits before the point of a rate.
const RATE_WHOLE_DIGITS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("enter an amount, for example 12.50")]
    Empty,
    #[error(
        "enter the amount as a number, for example 12.50, without a currency sign or thousands separators"
    )]
    NotANumber,
    #[error("the amount must be more than zero")]
    NotPositive,
    #[error("VAT cannot be negative: enter 0 for a zero-rated receipt")]
    NegativeVat,
    #[error("{code} amounts have at most {decimals} decimal places")]
    TooPrecise { code: &'static str, decimals: u32 },
    #[error("the amount is too large for one line")]
    TooLarge,
    #[error("{0:?} is not an ISO 4217 currency code such as GBP, EUR or USD")]
    UnknownCurrency(String),
    #[error("enter the exchange rate as a positive number with at most 12 decimal places")]
    BadRate,
}

impl Currency {
    pub const GBP: Currency = Currency(iso_currency::Currency::GBP);

    /// A circulating currency by its three-letter code; precious metals and fund codes
    /// (which have no minor unit) are refused.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        iso_currency::Currency::from_code(&upper)
            .filter(|c| c.exponent().is_some() && !c.has_flag(iso_currency::Flag::Fund))
            .map(Currency)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.trim().chars().take(10).collect()))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point (GBP 2, JPY 0, BHD 3).
    pub fn exponent(self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(2))
    }

    fn scale(self) -> i64 {
        10i64.pow(self.exponent())
    }

    /// [`MAX_LINE_MAJOR`] in minor units of this currency: the default bound of a line.
    pub fn max_line_minor(self) -> i64 {
        MAX_LINE_MAJOR * self.scale()
    }

    /// [`MAX_LINE_SETTABLE_MAJOR`] in minor units of this currency.
    pub fn max_settable_line_minor(self) -> i64 {
        MAX_LINE_SETTABLE_MAJOR * self.scale()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Parses a positive amount like `12.5` or `12.50` into minor units of `currency`; at
/// most 10^12 major units (see [`Currency::max_line_minor`] for a line's real bound).
pub fn parse_amount(raw: &str, currency: Currency) -> Result<i64, MoneyError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(MoneyError::Empty);
    }
    if s.starts_with('-') {
        return Err(MoneyError::NotPositive);
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err(MoneyError::NotANumber);
    }
    let decimals = currency.exponent();
    if frac.len() > decimals as usize {
        return Err(MoneyError::TooPrecise {
            code: currency.code(),
            decimals,
        });
    }
    // Length checks before parsing keep absurd inputs from overflowing.
    let whole = whole.trim_start_matches('0');
    if whole.len() > AMOUNT_WHOLE_DIGITS {
        return Err(MoneyError::TooLarge);
    }
    let major: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| MoneyError::NotANumber)?
    };
    let mut frac_minor: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| MoneyError::NotANumber)?
    };
    frac_minor *= 10i64.pow(decimals - frac.len() as u32);
    let minor = major * currency.scale() + frac_minor;
    if minor <= 0 {
        return Err(MoneyError::NotPositive);
    }
    Ok(minor)
}

/// VAT as typed: an amount like [`parse_amount`], or zero (a zero-rated receipt).
pub fn parse_vat(raw: &str, currency: Currency) -> Result<i64, MoneyError> {
    // A minus sign before a number is said as such, not as "more than zero" (zero is
    // allowed); before anything else, what is wrong with the rest is said.
    if let Some(rest) = raw.trim().strip_prefix('-') {
        return Err(match parse_amount(rest, currency) {
            Ok(_) | Err(MoneyError::NotPositive) => MoneyError::NegativeVat,
            Err(e) => e,
        });
    }
    match parse_amount(raw, currency) {
        Err(MoneyError::NotPositive) => Ok(0),
        other => other,
    }
}

/// `1234.5` with GBP -> "1,234.50"; negative amounts keep their sign.
pub fn format_minor(minor: i64, currency: Currency) -> String {
    let scale = currency.scale();
    let (sign, abs) = if minor < 0 {
        ("-", minor.unsigned_abs())
    } else {
        ("", minor as u64)
    };
    let major = abs / scale as u64;
    let frac = abs % scale as u64;
    let digits = major.to_string();
    // Lists format dozens of amounts a page: the result is sized up front.
    let mut out = String::with_capacity(digits.len() * 4 / 3 + 8);
    out.push_str(sign);
    for (i, ch) in digits.char_indices() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    let e = currency.exponent() as usize;
    if e > 0 {
        use std::fmt::Write;
        let _ = write!(out, ".{frac:0e$}");
    }
    out
}

/// Parses an exchange rate as typed (`0.85`, `1.1734`, `0.0000308`) into `rate * 10^12`.
pub fn parse_rate(raw: &str) -> Result<i64, MoneyError> {
    let s = raw.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let ok = !s.is_empty()
        && whole.len() <= RATE_WHOLE_DIGITS
        && frac.len() <= RATE_DECIMALS as usize
        && whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit());
    if !ok {
        return Err(MoneyError::BadRate);
    }
    let number = |digits: &str| -> Result<i64, MoneyError> {
        match digits {
            "" => Ok(0),
            d => d.parse().map_err(|_| MoneyError::BadRate),
        }
    };
    // Lengths are checked above: at most 10^6 * 10^12, well inside an i64.
    let scaled =
        number(whole)? * RATE_ONE + number(frac)? * 10i64.pow(RATE_DECIMALS - frac.len() as u32);
    if scaled <= 0 {
        Err(MoneyError::BadRate)
    } else {
        Ok(scaled)
    }
}

/// The rate as a person types it: `0.85`, `1`, `0.0000308`.
pub fn format_rate(rate_e12: i64) -> String {
    let frac = format!(
        "{:0width$}",
        rate_e12 % RATE_ONE,
        width = RATE_DECIMALS as usize
    );
    match frac.trim_end_matches('0') {
        "" => (rate_e12 / RATE_ONE).to_string(),
        f => format!("{}.{f}", rate_e12 / RATE_ONE),
    }
}

/// Converts `minor` of `from` into minor units of `to` at `rate_e12`, rounding half
/// away from zero. Integer arithmetic throughout.
pub fn convert(minor: i64, from: Currency, to: Currency, rate_e12: i64) -> i64 {
    let num = i128::from(minor) * i128::from(rate_e12) * i128::from(to.scale());
    let den = i128::from(RATE_ONE) * i128::from(from.scale());
    let q = num / den;
    let r = num % den;
    let rounded = if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    };
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn parses_what_people_type() {
        assert_eq!(parse_amount("12.50", Currency::GBP), Ok(1250));
        assert_eq!(parse_amount(" 12.5 ", Currency::GBP), Ok(1250));
        assert_eq!(parse_amount("12", Currency::GBP), Ok(1200));
        assert_eq!(parse_amount(".99", Currency::GBP), Ok(99));
        assert_eq!(parse_amount("1500", c("JPY")), Ok(1500));
        assert_eq!(parse_amount("1.234", c("BHD")), Ok(1234));
        assert_eq!(parse_amount("1000000", Currency::GBP), Ok(100_000_000));
    }

    #[test]
    fn refuses_bad_amounts() {
        use MoneyError::*;
        assert_eq!(parse_amount("", Currency::GBP), Err(Empty));
        assert_eq!(parse_amount("0", Currency::GBP), Err(NotPositive));
        assert_eq!(parse_vat("0.00", Currency::GBP), Ok(0));
        assert_eq!(parse_vat("-0", Currency::GBP), Err(NegativeVat));
        assert_eq!(parse_vat("-1", Currency::GBP), Err(NegativeVat));
        assert_eq!(parse_vat(" -1.50 ", Currency::GBP), Err(NegativeVat));
        assert_eq!(parse_vat("-abc", Currency::GBP), Err(NotANumber));
        assert_eq!(parse_vat("1.50", Currency::GBP), Ok(150));
        assert_eq!(parse_vat("0.001", Currency::GBP).ok(), None);
        assert_eq!(parse_amount("0.00", Currency::GBP), Err(NotPositive));
        assert_eq!(parse_amount("-5", Currency::GBP), Err(NotPositive));
        assert!(matches!(
            parse_amount("12.505", Currency::GBP),
            Err(TooPrecise { decimals: 2, .. })
        ));
        assert!(matches!(
            parse_amount("10.5", c("JPY")),
            Err(TooPrecise { decimals: 0, .. })
        ));
        // Ordinary receipts in currencies of small units are amounts, not typos.
        assert_eq!(parse_amount("1500000", c("IDR")), Ok(150_000_000));
        assert_eq!(parse_amount("25000000", c("VND")), Ok(25_000_000));
        assert_eq!(parse_amount("999999999999", c("KRW")), Ok(999_999_999_999));
        assert_eq!(parse_amount("1000000000000", c("KRW")), Err(TooLarge));
        assert_eq!(parse_amount(&"9".repeat(400), Currency::GBP), Err(TooLarge));
        for bad in [
            "£12", "12,50", "1,234.00", "1e3", "12.5.0", ".", "NaN", "１２", "12 50", "0x10",
        ] {
            assert!(parse_amount(bad, Currency::GBP).is_err(), "{bad}");
        }
    }

    #[test]
    fn currencies() {
        assert_eq!(c("gbp"), Currency::GBP);
        assert_eq!(c("EUR").exponent(), 2);
        assert!(Currency::parse("XAU").is_err());
        // Fund codes are accounting units, not money anyone is paid in.
        for fund in ["USN", "BOV", "CHE", "CLF"] {
            assert!(Currency::parse(fund).is_err(), "{fund}");
        }
        assert!(Currency::parse("ABC").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn formats_and_converts() {
        assert_eq!(format_minor(123_450, Currency::GBP), "1,234.50");
        assert_eq!(format_minor(5, Currency::GBP), "0.05");
        assert_eq!(format_minor(-100_000_000, Currency::GBP), "-1,000,000.00");
        assert_eq!(format_minor(1500, c("JPY")), "1,500");
        // 10.00 EUR at 0.85 GBP/EUR = 8.50 GBP
        assert_eq!(
            convert(1000, c("EUR"), Currency::GBP, parse_rate("0.85").unwrap()),
            850
        );
        // 1500 JPY at 0.0052 = 7.80 GBP
        assert_eq!(
            convert(1500, c("JPY"), Currency::GBP, parse_rate("0.0052").unwrap()),
            780
        );
        // rounding half away from zero: 0.05 at 0.5 = 0.025 -> 0.03
        let half = parse_rate("0.5").unwrap();
        assert_eq!(convert(5, Currency::GBP, Currency::GBP, half), 3);
        assert_eq!(parse_rate("1.1734"), Ok(1_173_400_000_000));
        // A weak currency keeps its digits: 1,000,000 VND at 0.0000308 is 30.80 GBP.
        let vnd = parse_rate("0.0000308").unwrap();
        assert_eq!(format_rate(vnd), "0.0000308");
        assert_eq!(convert(1_000_000, c("VND"), Currency::GBP, vnd), 3080);
        assert_eq!(format_rate(RATE_ONE), "1");
        assert_eq!(
            format_rate(parse_rate("999999.000000000001").unwrap()),
            "999999.000000000001"
        );
        for bad in ["", "0", "-1", "1.1234567890123", "1234567", "abc", "1e2"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
