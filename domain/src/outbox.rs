//! The transactional outbox: every event worth telling the outside world is a row of
//! `outbox_event`, written by [`record`] in the transaction of the change that causes it, so
//! an event exists exactly when its change committed. Nothing is sent from here or from any
//! request or close: the dispatcher (`scheduler`) reads the outbox after the commit and
//! delivers through [`webhooks`](crate::webhooks).
//!
//! Each event has a unique id (`evt_` and 128 random bits), the `webhook-id` of all its
//! deliveries, so a receiver can drop repeats. Events that must be told once per subject
//! whatever the retries (a period's opening and close, an assignment falling overdue) carry
//! a dedupe key under a unique index, and a second write of one is a no-op.
//!
//! The body is stored as it will be sent: `{"type", "timestamp", "data"}`, as the Standard
//! Webhooks specification suggests; ids in `data` are the database's numbers.

use chrono::{DateTime, SecondsFormat, Utc};
use entity::outbox_event;
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use serde_json::{Value, json};

use crate::DomainResult;

/// The kinds of event, as receivers subscribe to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    PeriodOpened,
    PeriodClosed,
    AssignmentSubmitted,
    AssignmentReturned,
    AssignmentOverdue,
    KpiResultAdjusted,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::PeriodOpened,
        EventType::PeriodClosed,
        EventType::AssignmentSubmitted,
        EventType::AssignmentReturned,
        EventType::AssignmentOverdue,
        EventType::KpiResultAdjusted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::PeriodOpened => "period.opened",
            EventType::PeriodClosed => "period.closed",
            EventType::AssignmentSubmitted => "assignment.submitted",
            EventType::AssignmentReturned => "assignment.returned",
            EventType::AssignmentOverdue => "assignment.overdue",
            EventType::KpiResultAdjusted => "kpi_result.adjusted",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A new event id: `evt_` and 32 lowercase hex digits of OS randomness.
pub fn new_event_id() -> String {
    let mut bytes = [0u8; 16];
    // The OS random source failing is unrecoverable for an id issuer.
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("evt_{hex}")
}

/// An instant as events write it: RFC 3339, UTC, to the microsecond at most.
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The body every delivery of an event sends.
pub fn body(kind: EventType, at: DateTime<Utc>, data: Value) -> String {
    json!({ "type": kind.name(), "timestamp": instant(at), "data": data }).to_string()
}

/// One event, not yet written.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventType,
    pub data: Value,
    /// Set for events told once per subject: a second one with the same key is not written.
    pub dedupe_key: Option<String>,
}

impl Event {
    pub fn new(kind: EventType, data: Value) -> Event {
        Event {
            kind,
            data,
            dedupe_key: None,
        }
    }

    /// Told once for `subject` (e.g. a period's id): the key is the type and the subject.
    pub fn once(kind: EventType, subject: impl std::fmt::Display, data: Value) -> Event {
        Event {
            kind,
            data,
            dedupe_key: Some(format!("{}:{subject}", kind.name())),
        }
    }
}

/// Writes events at `at`, in the caller's transaction; an event whose dedupe key was
/// written before is skipped. Many events go in one statement per few hundred.
pub async fn record(
    db: &impl ConnectionTrait,
    events: Vec<Event>,
    at: DateTime<Utc>,
) -> DomainResult<()> {
    record_each(db, events.into_iter().map(|e| (e, at)).collect()).await
}

/// Records events that each happened at their own instant, in the order given (a batch of
/// transitions, each told as it would have been alone).
pub async fn record_each(
    db: &impl ConnectionTrait,
    events: Vec<(Event, DateTime<Utc>)>,
) -> DomainResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<outbox_event::ActiveModel> = events
        .into_iter()
        .map(|(e, at)| outbox_event::ActiveModel {
            event_id: Set(new_event_id()),
            event_type: Set(e.kind.name().to_owned()),
            dedupe_key: Set(e.dedupe_key),
            body: Set(body(e.kind, at, e.data)),
            created_at: Set(at),
            fanned_out_at: Set(None),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(500) {
        outbox_event::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([outbox_event::Column::DedupeKey])
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_read_back() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.name()), Some(t));
        }
        assert_eq!(EventType::parse("period.reopened"), None);
        assert_eq!(EventType::parse("PERIOD.OPENED"), None);
    }

    #[test]
    fn ids_are_random_and_prefixed() {
        let (a, b) = (new_event_id(), new_event_id());
        assert_ne!(a, b);
        assert!(a.starts_with("evt_") && a.len() == 36, "{a}");
    }

    #[test]
    fn the_body_is_type_timestamp_and_data() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        let body: Value =
            serde_json::from_str(&body(EventType::PeriodClosed, at, json!({"x": 1}))).unwrap();
        assert_eq!(
            body,
            json!({"type": "period.closed", "timestamp": "2026-12-02T12:00:00Z", "data": {"x": 1}})
        );
        assert_eq!(
            Event::once(EventType::PeriodClosed, 12, Value::Null)
                .dedupe_key
                .as_deref(),
            Some("period.closed:12")
        );
    }
}
