//! Webhooks, for admins: registering endpoints (the signing secret is shown once), rotating
//! their secrets, disabling and removing them, and reading and retrying their deliveries.
//! The rules and the storage are `domain::webhooks`'; the sending is the scheduler's.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{outbox_event, webhook, webhook_delivery};

use crate::context::Ctx;
use crate::error::OrGql;
use crate::id::{Kind, decode, encode};
use crate::paging::{Order, Page, PageArgs, page};

/// An endpoint told of events as they happen, signed as the Standard Webhooks specification
/// says (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
pub struct Webhook(pub webhook::Model);

#[Object]
impl Webhook {
    pub async fn id(&self) -> ID {
        encode(Kind::Webhook, self.0.id)
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// The event types it is sent: `period.opened`, `period.closed`, `assignment.submitted`,
    /// `assignment.returned`, `assignment.overdue`, `kpi_result.adjusted`.
    async fn events(&self) -> Vec<&str> {
        self.0.events.split_whitespace().collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// False once disabled, by an admin or for failing too long (see `disabledReason`).
    async fn enabled(&self) -> bool {
        self.0.disabled_at.is_none()
    }
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }
    /// Why it was disabled, e.g. that every delivery has failed since some instant.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }
    /// Since when every attempt to it has failed; null after a success.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }
    /// Until when the secret before the last rotation still signs beside the new one.
    async fn previous_secret_until(&self) -> Option<DateTime<Utc>> {
        self.0.previous_secret_until
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeliveryStatus {
    /// Not delivered yet; `nextAttemptAt` says when it is tried.
    Pending,
    /// A 2xx answer came.
    Delivered,
    /// The retry window ended without a 2xx answer; `redeliver` tries again.
    Dead,
}

impl DeliveryStatus {
    fn stored(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => domain::webhooks::PENDING,
            DeliveryStatus::Delivered => domain::webhooks::DELIVERED,
            DeliveryStatus::Dead => domain::webhooks::DEAD,
        }
    }
}

/// One event sent to one webhook.
pub struct WebhookDelivery {
    row: webhook_delivery::Model,
    event: Option<outbox_event::Model>,
}

#[Object]
impl WebhookDelivery {
    pub async fn id(&self) -> ID {
        encode(Kind::WebhookDelivery, self.row.id)
    }
    /// The event's id, sent as `webhook-id`: the same on every attempt and redelivery.
    async fn event_id(&self) -> Option<&str> {
        self.event.as_ref().map(|e| e.event_id.as_str())
    }
    async fn event_type(&self) -> Option<&str> {
        self.event.as_ref().map(|e| e.event_type.as_str())
    }
    /// The JSON body sent: `{"type", "timestamp", "data"}`.
    async fn body(&self) -> Option<&str> {
        self.event.as_ref().map(|e| e.body.as_str())
    }
    async fn status(&self) -> async_graphql::Result<DeliveryStatus> {
        match self.row.status.as_str() {
            domain::webhooks::PENDING => Ok(DeliveryStatus::Pending),
            domain::webhooks::DELIVERED => Ok(DeliveryStatus::Delivered),
            domain::webhooks::DEAD => Ok(DeliveryStatus::Dead),
            other => Err(crate::error::internal(&format!(
                "delivery {} has status `{other}`",
                self.row.id
            ))),
        }
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.row.attempts
    }
    /// The HTTP status of the last answer; null when none came.
    async fn last_response_code(&self) -> Option<i32> {
        self.row.last_status_code
    }
    async fn last_error(&self) -> Option<&str> {
        self.row.last_error.as_deref()
    }
    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.row.last_attempt_at
    }
    /// When it is tried next; null unless pending.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.row.next_attempt_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.row.delivered_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
}

#[derive(SimpleObject)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    /// The signing secret, shown this once: `whsec_` and the base64 of the key.
    pub secret: String,
}

#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// An absolute http:// or https:// URL, at most 2,048 characters.
    pub url: String,
    /// The event types to send, at least one (see `Webhook.events`).
    pub events: Vec<String>,
}

#[derive(InputObject)]
pub struct UpdateWebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Admin. Every webhook, oldest first.
    #[graphql(complexity = "crate::paging::list_cost(crate::paging::LONG_LIST, child_complexity)")]
    async fn webhooks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Webhook>> {
        let c = Ctx::new(ctx)?;
        Ok(domain::webhooks::list(c.db(), c.who)
            .await
            .gql()?
            .into_iter()
            .map(Webhook)
            .collect())
    }

    /// Admin. A webhook's deliveries, newest first, optionally of one status.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: ID,
        status: Option<DeliveryStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<WebhookDelivery>> {
        let c = Ctx::new(ctx)?;
        let id = decode(&webhook_id, Kind::Webhook, "webhookId")?;
        let select =
            domain::webhooks::deliveries(c.db(), c.who, id, status.map(DeliveryStatus::stored))
                .await
                .gql()?;
        let mut connection = page(
            &c,
            select,
            webhook_delivery::Column::Id,
            Order::Descending,
            PageArgs::new(first, after),
            |d| d.id,
            |row| WebhookDelivery { row, event: None },
        )
        .await?;
        // The page's events in one statement.
        let mut events = domain::webhooks::events_of(
            c.db(),
            connection.edges.iter().map(|e| e.node.row.outbox_id),
        )
        .await
        .gql()?;
        for edge in &mut connection.edges {
            edge.node.event = events.remove(&edge.node.row.outbox_id);
        }
        Ok(connection)
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Admin. Registers an endpoint for some event types; it is sent the events that happen
    /// from now on. The secret is returned once.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> async_graphql::Result<CreatedWebhook> {
        let c = Ctx::new(ctx)?;
        let (row, secret) =
            domain::webhooks::create(c.db(), c.who, &input.url, &input.events, c.now())
                .await
                .gql_input()?;
        Ok(CreatedWebhook {
            webhook: Webhook(row),
            secret,
        })
    }

    /// Admin. Changes the URL or the event types given.
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookInput,
    ) -> async_graphql::Result<Webhook> {
        let c = Ctx::new(ctx)?;
        let id = decode(&id, Kind::Webhook, "id")?;
        let row = domain::webhooks::update(
            c.db(),
            c.who,
            id,
            input.url.as_deref(),
            input.events.as_deref(),
        )
        .await
        .gql_input()?;
        Ok(Webhook(row))
    }

    /// Admin. A new secret, returned once; the previous one keeps signing beside it for 24
    /// hours (deliveries carry both signatures), so the receiver can switch without a gap.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<CreatedWebhook> {
        let c = Ctx::new(ctx)?;
        let id = decode(&id, Kind::Webhook, "id")?;
        let (row, secret) = domain::webhooks::rotate_secret(c.db(), c.who, id, c.now())
            .await
            .gql()?;
        Ok(CreatedWebhook {
            webhook: Webhook(row),
            secret,
        })
    }

    /// Admin. A disabled webhook gets no new deliveries and its due ones wait; enabling it
    /// again starts its failure streak over.
    async fn set_webhook_enabled(
        &self,
        ctx: &Context<'_>,
        id: ID,
        enabled: bool,
    ) -> async_graphql::Result<Webhook> {
        let c = Ctx::new(ctx)?;
        let id = decode(&id, Kind::Webhook, "id")?;
        Ok(Webhook(
            domain::webhooks::set_enabled(c.db(), c.who, id, enabled, c.now())
                .await
                .gql()?,
        ))
    }

    /// Admin. Removes a webhook and its deliveries; returns its id.
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let c = Ctx::new(ctx)?;
        let n = decode(&id, Kind::Webhook, "id")?;
        domain::webhooks::delete(c.db(), c.who, n).await.gql()?;
        Ok(id)
    }

    /// Admin. Sends a delivery again from now (same event id), with a fresh retry window.
    async fn redeliver(
        &self,
        ctx: &Context<'_>,
        delivery_id: ID,
    ) -> async_graphql::Result<WebhookDelivery> {
        let c = Ctx::new(ctx)?;
        let id = decode(&delivery_id, Kind::WebhookDelivery, "deliveryId")?;
        let row = domain::webhooks::redeliver(c.db(), c.who, id, c.now())
            .await
            .gql()?;
        let event = domain::webhooks::events_of(c.db(), [row.outbox_id])
            .await
            .gql()?
            .remove(&row.outbox_id);
        Ok(WebhookDelivery { row, event })
    }
}
