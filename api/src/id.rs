//! Opaque global IDs: base64 of `Kind:id`. Clients must not parse them.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::bad_input;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Employee,
    Department,
    Period,
    Assignment,
    Article,
    Proposal,
    DutyTemplate,
    KpiTarget,
    ApiToken,
    KpiResult,
    Webhook,
    WebhookDelivery,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Employee => "Employee",
            Kind::Department => "Department",
            Kind::Period => "Period",
            Kind::Assignment => "Assignment",
            Kind::Article => "Article",
            Kind::Proposal => "Proposal",
            Kind::DutyTemplate => "DutyTemplate",
            Kind::KpiTarget => "KpiTarget",
            Kind::ApiToken => "ApiToken",
            Kind::KpiResult => "KpiResult",
            Kind::Webhook => "Webhook",
            Kind::WebhookDelivery => "WebhookDelivery",
        }
    }

    const ALL: [Kind; 12] = [
        Kind::Employee,
        Kind::Department,
        Kind::Period,
        Kind::Assignment,
        Kind::Article,
        Kind::Proposal,
        Kind::DutyTemplate,
        Kind::KpiTarget,
        Kind::ApiToken,
        Kind::KpiResult,
        Kind::Webhook,
        Kind::WebhookDelivery,
    ];
}

pub fn encode(kind: Kind, id: i64) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.as_str())))
}

/// Decodes any global ID; `None` when it is not one of ours.
pub fn decode_any(id: &ID) -> Option<(Kind, i64)> {
    let raw = URL_SAFE_NO_PAD.decode(id.as_str()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (kind, number) = text.split_once(':')?;
    let kind = Kind::ALL.into_iter().find(|k| k.as_str() == kind)?;
    Some((kind, number.parse().ok()?))
}

/// Decodes an ID that must be of `kind`, naming the argument in the error.
pub fn decode(id: &ID, kind: Kind, field: &str) -> async_graphql::Result<i64> {
    match decode_any(id) {
        Some((k, n)) if k == kind => Ok(n),
        _ => Err(bad_input(
            field,
            format!("`{}` is not a valid {} id", id.as_str(), kind.as_str()),
        )),
    }
}
