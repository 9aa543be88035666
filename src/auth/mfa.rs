//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s) with one step of tolerance either side and
//! replay refusal via the last accepted step; recovery codes stored as keyed hashes.

use data_encoding::BASE32_NOPAD;
use subtle::ConstantTimeEq;

use crate::crypto::{CryptoError, random_array};

pub const STEP_SECS: u64 = 30;
pub const DIGITS: u32 = 6;
pub const RECOVERY_CODES: usize = 10;
pub const ISSUER: &str = "ExpensePlus";

/// A new TOTP secret (160 bits, as RFC 4226 recommends), in base32 for people and apps.
pub fn new_secret() -> Result<String, CryptoError> {
    Ok(BASE32_NOPAD.encode(&random_array::<20>()?))
}

/// The `otpauth://` URI an authenticator app reads from the QR code. It names the
/// service and organisation only, nothing about the person.
pub fn otpauth_uri(secret_b32: &str, org_slug: &str) -> String {
    format!(
        "otpauth://totp/{ISSUER}:{org_slug}?secret={secret_b32}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    )
}

/// The QR code as an SVG data URI (the CSP allows `data:` images; no external service).
pub fn qr_data_uri(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        data_encoding::BASE64.encode(svg.as_bytes())
    ))
}

fn code_at(secret: &[u8], step: u64) -> String {
    totp_lite::totp_custom::<totp_lite::Sha1>(STEP_SECS, DIGITS, secret, step * STEP_SECS)
}

/// Checks `code` against the steps around `now`. Returns the matching step, which the
/// caller must store; a step at or below `last_step` is a replay and is refused.
pub fn verify(secret_b32: &str, code: &str, now: u64, last_step: Option<i64>) -> Option<i64> {
    let secret = BASE32_NOPAD.decode(secret_b32.as_bytes()).ok()?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now / STEP_SECS;
    let floor = last_step.unwrap_or(-1);
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .filter(|step| *step as i64 > floor)
        .find(|step| {
            code_at(&secret, *step)
                .as_bytes()
                .ct_eq(code.as_bytes())
                .into()
        })
        .map(|step| step as i64)
}

/// The code an authenticator shows at `now` (for tests and the benchmark).
pub fn current_code(secret_b32: &str, now: u64) -> Option<String> {
    let secret = BASE32_NOPAD.decode(secret_b32.as_bytes()).ok()?;
    Some(code_at(&secret, now / STEP_SECS))
}

/// Ten fresh recovery codes like `k3x9q-7mw2p` (50 bits each).
pub fn new_recovery_codes() -> Result<Vec<String>, CryptoError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes = random_array::<10>()?;
            let chars: String = bytes
                .iter()
                .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
                .collect();
            Ok(format!("{}-{}", &chars[..5], &chars[5..]))
        })
        .collect()
}

/// Recovery codes as typed: lower case, without spaces or the hyphen.
pub fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn window_and_replay() {
        let secret = new_secret().unwrap();
        let now = 1_800_000_000u64;
        let code = current_code(&secret, now).unwrap();
        let step = verify(&secret, &code, now, None).unwrap();
        // The same code again is a replay.
        assert_eq!(verify(&secret, &code, now, Some(step)), None);
        // One step of clock drift either way is accepted; two is not.
        let prev = current_code(&secret, now - 30).unwrap();
        assert!(verify(&secret, &prev, now, None).is_some());
        let old = current_code(&secret, now - 60).unwrap();
        assert_eq!(verify(&secret, &old, now, None), None);
        assert_eq!(verify(&secret, "12345", now, None), None);
        assert_eq!(verify(&secret, "abcdef", now, None), None);
    }

    #[test]
    fn recovery_codes_look_right() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), 10);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        assert_eq!(normalise_recovery_code(" K3X9Q-7mw2p "), "k3x9q7mw2p");
    }
}
