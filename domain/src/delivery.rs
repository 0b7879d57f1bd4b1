//! The rules of webhook delivery, as pure functions: how a delivery is signed (the Standard
//! Webhooks scheme), when a failed one is tried again (exponential back-off with jitter, for
//! a bounded time), when it is dead, and when an endpoint that keeps failing is disabled.
//!
//! Time and randomness are arguments: `now`, and `jitter`, a number in `[0, 1)` the caller
//! draws. The dispatcher (in `scheduler`) sends; the services in `webhooks` store.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use hmac::{KeyInit, Mac};

/// The prefix of a webhook secret; the rest is the key in standard base64.
pub const SECRET_PREFIX: &str = "whsec_";

/// A secret that is not `whsec_` and base64.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is `whsec_` and the key in base64")]
pub struct BadSecret;

/// The signing key of a secret: the base64 after `whsec_` (padded or not), decoded.
pub fn key_of(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(BadSecret)?;
    let padded = format!("{encoded}{}", "=".repeat((4 - encoded.len() % 4) % 4));
    match STANDARD.decode(padded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(BadSecret),
    }
}

/// A secret for `key_bytes` of key: `whsec_` and its standard base64.
pub fn secret_of(key_bytes: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key_bytes))
}

/// One signature, `v1,` and the base64 HMAC-SHA256, keyed by the secret's key, of
/// `{id}.{timestamp}.{body}`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let key = key_of(secret)?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per secret, space-separated (a receiver
/// accepts the delivery when any one verifies, which lets a rotated secret overlap).
pub fn signature_header(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, BadSecret> {
    let signatures = secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

/// How long the previous secret keeps signing beside the new one after a rotation, so a
/// receiver can switch without losing a delivery.
pub fn rotation_grace() -> Duration {
    Duration::hours(24)
}

/// The secrets that sign at `now`: the current one, and the previous one within its grace.
pub fn signing_secrets<'a>(
    current: &'a str,
    previous: Option<&'a str>,
    previous_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<&'a str> {
    let mut secrets = vec![current];
    if let (Some(previous), Some(until)) = (previous, previous_until)
        && now < until
    {
        secrets.push(previous);
    }
    secrets
}

/// The wait before the first retry; each later one waits [`BACKOFF_FACTOR`] times longer,
/// up to [`BACKOFF_CAP`].
pub const BACKOFF_BASE_SECS: i64 = 5;
pub const BACKOFF_FACTOR: i64 = 3;
pub const BACKOFF_CAP_SECS: i64 = 2 * 60 * 60;

/// The wait after the `attempt`th failed attempt (1 for the first): `5 s × 3^(attempt-1)`,
/// at most two hours, of which a random half (`jitter` in `[0, 1)`) is taken off, so
/// receivers that failed together are not all retried at the same instant ("equal
/// jitter").
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let full = BACKOFF_FACTOR
        .checked_pow(exponent)
        .and_then(|f| f.checked_mul(BACKOFF_BASE_SECS))
        .map_or(BACKOFF_CAP_SECS, |s| s.min(BACKOFF_CAP_SECS));
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let millis = full as f64 * 1000.0 * (0.5 + 0.5 * (1.0 - jitter));
    Duration::milliseconds(millis.round() as i64)
}

/// What becomes of a delivery after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this instant.
    Retry(DateTime<Utc>),
    /// The retry window is over: no more attempts.
    Dead,
}

/// After the `attempt`th attempt failed at `now`: retry after [`backoff`], but never past the
/// end of the window (`retry_from + retry_for`), where one last attempt is made; once the
/// window is over, dead.
pub fn after_failure(
    attempt: u32,
    retry_from: DateTime<Utc>,
    retry_for: Duration,
    now: DateTime<Utc>,
    jitter: f64,
) -> AfterFailure {
    let end = retry_from
        .checked_add_signed(retry_for)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if now >= end {
        return AfterFailure::Dead;
    }
    let next = now
        .checked_add_signed(backoff(attempt, jitter))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    AfterFailure::Retry(Ord::min(next, end))
}

/// Whether an answer with this HTTP status delivered the event: any 2xx.
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Whether an endpoint failing since `failing_since` is to be disabled at `now`: it has
/// failed every attempt for at least `disable_after`.
pub fn should_disable(
    failing_since: Option<DateTime<Utc>>,
    disable_after: Duration,
    now: DateTime<Utc>,
) -> bool {
    failing_since.is_some_and(|since| {
        since
            .checked_add_signed(disable_after)
            .is_some_and(|at| at <= now)
    })
}

/// Why an endpoint was disabled for failing, as admins read it.
pub fn disabled_reason(failing_since: DateTime<Utc>, last_error: &str) -> String {
    format!(
        "every delivery has failed since {}; the last: {last_error}",
        failing_since.to_rfc3339()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    /// The published example of the Standard Webhooks reference libraries.
    const SPEC_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const SPEC_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SPEC_TIMESTAMP: i64 = 1_649_367_553;
    const SPEC_BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
    const SPEC_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn signs_the_specifications_example() {
        let signed = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY.as_bytes());
        assert_eq!(signed.as_deref(), Ok(SPEC_SIGNATURE));
        // Another id, timestamp or body, another signature.
        for (id, ts, body) in [
            ("msg_other", SPEC_TIMESTAMP, SPEC_BODY),
            (SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY),
            (SPEC_ID, SPEC_TIMESTAMP, "{}"),
        ] {
            assert_ne!(
                sign(SPEC_SECRET, id, ts, body.as_bytes()).unwrap(),
                SPEC_SIGNATURE
            );
        }
    }

    #[test]
    fn secrets_and_keys() {
        let key = [7u8; 24];
        let secret = secret_of(&key);
        assert!(secret.starts_with("whsec_"));
        assert_eq!(key_of(&secret), Ok(key.to_vec()));
        // Unpadded base64 reads as padded would.
        assert_eq!(
            key_of(SPEC_SECRET.trim_end_matches('=')),
            key_of(SPEC_SECRET)
        );
        for bad in [
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "whsec_",
            "whsec_!!!!",
            "whsec_a",
        ] {
            assert_eq!(key_of(bad), Err(BadSecret), "{bad}");
        }
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one_during_its_grace() {
        let header = signature_header(
            &[SPEC_SECRET, "whsec_AAAA"],
            SPEC_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY.as_bytes(),
        )
        .unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], SPEC_SIGNATURE);
        let until = Some(at(100));
        assert_eq!(
            signing_secrets("new", Some("old"), until, at(99)),
            ["new", "old"]
        );
        assert_eq!(signing_secrets("new", Some("old"), until, at(100)), ["new"]);
        assert_eq!(signing_secrets("new", None, None, at(0)), ["new"]);
    }

    #[test]
    fn backoff_grows_by_three_up_to_two_hours_with_at_most_half_taken_off() {
        // (attempt, jitter, seconds)
        let table: [(u32, f64, f64); 10] = [
            (1, 0.0, 5.0),
            (1, 0.999_999, 2.5),
            (1, 0.5, 3.75),
            (2, 0.0, 15.0),
            (3, 0.0, 45.0),
            (4, 0.0, 135.0),
            (7, 0.0, 3645.0),
            (8, 0.0, 7200.0),
            (40, 0.0, 7200.0),
            (u32::MAX, 0.999_999, 3600.0),
        ];
        for (attempt, jitter, secs) in table {
            let got = backoff(attempt, jitter).num_milliseconds() as f64 / 1000.0;
            assert!(
                (got - secs).abs() < 0.01,
                "attempt {attempt}, jitter {jitter}: {got} s, not {secs} s"
            );
        }
        // Attempt 0 waits as the first; a jitter out of range counts as none or all.
        assert_eq!(backoff(0, 0.0), backoff(1, 0.0));
        assert_eq!(backoff(1, f64::NAN), backoff(1, 0.0));
        assert_eq!(backoff(1, 7.0), backoff(1, 1.0));
    }

    #[test]
    fn a_failure_is_retried_within_the_window_then_dead() {
        let window = Duration::seconds(60);
        // (attempt, now, expected)
        let table = [
            (1, at(0), AfterFailure::Retry(at(5))),
            (2, at(5), AfterFailure::Retry(at(20))),
            (3, at(20), AfterFailure::Retry(at(60))),
            // The last attempt falls on the window's end ...
            (4, at(58), AfterFailure::Retry(at(60))),
            // ... and a failure there ends it.
            (5, at(60), AfterFailure::Dead),
            (6, at(1000), AfterFailure::Dead),
        ];
        for (attempt, now, expected) in table {
            assert_eq!(
                after_failure(attempt, at(0), window, now, 0.0),
                expected,
                "attempt {attempt} at {now}"
            );
        }
    }

    #[test]
    fn only_2xx_delivers() {
        for (status, ok) in [
            (200, true),
            (204, true),
            (299, true),
            (301, false),
            (404, false),
            (500, false),
            (199, false),
        ] {
            assert_eq!(delivered(status), ok, "{status}");
        }
    }

    #[test]
    fn an_endpoint_is_disabled_after_failing_for_the_whole_span() {
        let day = Duration::days(1);
        assert!(!should_disable(None, day, at(1_000_000)));
        assert!(!should_disable(Some(at(0)), day, at(86_399)));
        assert!(should_disable(Some(at(0)), day, at(86_400)));
        assert!(disabled_reason(at(0), "HTTP 500").ends_with("the last: HTTP 500"));
    }
}
