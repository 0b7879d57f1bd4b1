//! The knowledge base and proposals: publishing, reading, voting.

use chrono::{DateTime, Utc};
use entity::enums::VoteChoice;
use entity::{article, article_read, department, employee, proposal, vote};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::auth::Principal;
use crate::db::{Db, begin_write};
use crate::error::unique_as;
use crate::live::{self, Change, Due};
use crate::text::{self, Kind};
use crate::{DomainError, DomainResult, access, bounds};

/// Publishing: admins for anyone; managers for their own department.
async fn require_publisher(
    db: &impl Db,
    who: &Principal,
    department_id: Option<i64>,
) -> DomainResult<()> {
    if who.is_admin() {
        return Ok(());
    }
    let me = access::require_employee(who)?;
    let me = employee::Entity::find_by_id(me)
        .one(db)
        .await?
        .ok_or(DomainError::Unauthenticated)?;
    if me.role == entity::enums::Role::Manager && department_id == Some(me.department_id) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "only an admin, or a manager for their own department, may publish".into(),
        ))
    }
}

/// An audience: everyone, or a department that exists.
async fn check_audience(db: &impl Db, department_id: Option<i64>) -> DomainResult<()> {
    if let Some(id) = department_id
        && department::Entity::find_by_id(id).one(db).await?.is_none()
    {
        return Err(DomainError::bad_input(
            "department_id",
            "no such department",
        ));
    }
    Ok(())
}

/// An article to publish. Errors name its fields (`title`, `link`, ...).
#[derive(Clone, Debug, Default)]
pub struct ArticleInput {
    pub title: String,
    pub link: Option<String>,
    pub body: Option<String>,
    /// `None`: everyone.
    pub department_id: Option<i64>,
    pub mandatory: bool,
    /// Default: now.
    pub published_at: Option<DateTime<Utc>>,
}

pub async fn publish_article(
    db: &impl Db,
    who: &Principal,
    input: ArticleInput,
    now: DateTime<Utc>,
) -> DomainResult<article::Model> {
    let title = text::check("title", Kind::Name, &input.title)?;
    let link = input
        .link
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| text::link("link", l))
        .transpose()?;
    let body = text::optional("body", Kind::Body, input.body.as_deref())?;
    if link.is_none() && body.is_none() {
        return Err(DomainError::bad_input(
            "body",
            "an article needs a link or a body",
        ));
    }
    let published_at = input
        .published_at
        .map(|at| bounds::instant("published_at", at))
        .transpose()?;
    let txn = begin_write(db).await?;
    check_audience(&txn, input.department_id).await?;
    require_publisher(&txn, who, input.department_id).await?;
    let row = article::ActiveModel {
        title: Set(title),
        link: Set(link),
        body: Set(body),
        author_id: Set(who.employee_id()),
        department_id: Set(input.department_id),
        mandatory: Set(input.mandatory),
        published_at: Set(published_at.unwrap_or(now)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    // Its audience hears of it when it is published: now, or by the tick that passes then.
    live::at(
        &txn,
        Due::Article(row.id),
        row.department_id,
        row.published_at,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Whether an employee is in an audience (`None` is everyone).
pub fn in_audience(audience: Option<i64>, employee: &employee::Model) -> bool {
    audience.is_none_or(|d| d == employee.department_id)
}

/// Marks an article read by the calling employee; marking twice keeps the first time.
pub async fn mark_read(
    db: &impl Db,
    who: &Principal,
    article_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<article_read::Model> {
    let me = access::require_employee(who)?;
    let txn = begin_write(db).await?;
    let article = article::Entity::find_by_id(article_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("article"))?;
    let person = employee::Entity::find_by_id(me)
        .one(&txn)
        .await?
        .ok_or(DomainError::Unauthenticated)?;
    if !in_audience(article.department_id, &person) || article.published_at > now {
        return Err(DomainError::NotFound("article"));
    }
    // Insert unless read already (also when a concurrent call just did), then read back.
    article_read::Entity::insert(article_read::ActiveModel {
        article_id: Set(article_id),
        employee_id: Set(me),
        read_at: Set(now),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([
        article_read::Column::ArticleId,
        article_read::Column::EmployeeId,
    ])
    .exec(&txn)
    .await?;
    let row = article_read::Entity::find()
        .filter(article_read::Column::ArticleId.eq(article_id))
        .filter(article_read::Column::EmployeeId.eq(me))
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("article"))?;
    live::announce(&txn, Change::employees([me])).await?;
    txn.commit().await?;
    Ok(row)
}

/// Rows written per statement by the batch services below.
const CHUNK: usize = 500;

/// The employees with these ids, by id, read a chunk at a time.
async fn people(
    db: &impl Db,
    ids: impl IntoIterator<Item = i64>,
) -> DomainResult<std::collections::HashMap<i64, employee::Model>> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows = employee::Entity::find()
            .filter(employee::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        found.extend(rows.into_iter().map(|e| (e.id, e)));
    }
    Ok(found)
}

/// Many people marking one article read, each at their own instant, with the checks and
/// rows of [`mark_read`] (a second read keeps the first time), in one write transaction:
/// all or nothing, a chunk of rows per statement. Returns how many reads were given.
pub async fn mark_read_many(
    db: &impl Db,
    article_id: i64,
    reads: &[(Principal, DateTime<Utc>)],
) -> DomainResult<usize> {
    let readers = reads
        .iter()
        .map(|(who, _)| access::require_employee(who))
        .collect::<DomainResult<Vec<i64>>>()?;
    if reads.is_empty() {
        return Ok(0);
    }
    let txn = begin_write(db).await?;
    let article = article::Entity::find_by_id(article_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("article"))?;
    let found = people(&txn, readers.iter().copied()).await?;
    let mut rows = Vec::with_capacity(reads.len());
    for (me, (_, at)) in readers.iter().zip(reads) {
        let person = found.get(me).ok_or(DomainError::Unauthenticated)?;
        if !in_audience(article.department_id, person) || article.published_at > *at {
            return Err(DomainError::NotFound("article"));
        }
        rows.push(article_read::ActiveModel {
            article_id: Set(article_id),
            employee_id: Set(*me),
            read_at: Set(*at),
            ..Default::default()
        });
    }
    let mut pending = rows.into_iter().peekable();
    while pending.peek().is_some() {
        let chunk: Vec<_> = pending.by_ref().take(CHUNK).collect();
        article_read::Entity::insert_many(chunk)
            .on_conflict_do_nothing_on([
                article_read::Column::ArticleId,
                article_read::Column::EmployeeId,
            ])
            .exec_without_returning(&txn)
            .await?;
    }
    live::announce(&txn, Change::employees(readers)).await?;
    txn.commit().await?;
    Ok(reads.len())
}

/// Many people voting on one proposal, each at their own instant, with the checks and rows
/// of [`vote`] (a second vote by the same person is a conflict), in one write transaction:
/// all or nothing, a chunk of rows per statement. Returns how many votes were cast.
pub async fn vote_many(
    db: &impl Db,
    proposal_id: i64,
    votes: &[(Principal, VoteChoice, DateTime<Utc>)],
) -> DomainResult<usize> {
    let voters = votes
        .iter()
        .map(|(who, _, _)| access::require_employee(who))
        .collect::<DomainResult<Vec<i64>>>()?;
    if votes.is_empty() {
        return Ok(0);
    }
    let txn = begin_write(db).await?;
    let proposal = proposal::Entity::find_by_id(proposal_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("proposal"))?;
    let found = people(&txn, voters.iter().copied()).await?;
    let mut rows = Vec::with_capacity(votes.len());
    for (me, (_, choice, at)) in voters.iter().zip(votes) {
        let person = found.get(me).ok_or(DomainError::Unauthenticated)?;
        if !in_audience(proposal.department_id, person) {
            return Err(DomainError::NotFound("proposal"));
        }
        if *at < proposal.opens_at || *at >= proposal.closes_at {
            return Err(DomainError::Conflict(
                "the proposal is not open for votes".into(),
            ));
        }
        rows.push(vote::ActiveModel {
            proposal_id: Set(proposal_id),
            employee_id: Set(*me),
            choice: Set(*choice),
            voted_at: Set(*at),
            ..Default::default()
        });
    }
    let mut pending = rows.into_iter().peekable();
    while pending.peek().is_some() {
        let chunk: Vec<_> = pending.by_ref().take(CHUNK).collect();
        vote::Entity::insert_many(chunk)
            .exec_without_returning(&txn)
            .await
            .map_err(
                |e| match unique_as(crate::error::ONE_VOTE, "proposal_id", "")(e) {
                    DomainError::BadInput { .. } => {
                        DomainError::Conflict("someone in the batch has voted already".into())
                    }
                    other => other,
                },
            )?;
    }
    live::announce(&txn, Change::employees(voters)).await?;
    txn.commit().await?;
    Ok(votes.len())
}

/// A proposal to put to a vote. Errors name its fields (`title`, `closes_at`, ...).
#[derive(Clone, Debug, Default)]
pub struct ProposalInput {
    pub title: String,
    pub body: String,
    pub department_id: Option<i64>,
    /// Default: now.
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: DateTime<Utc>,
}

pub async fn create_proposal(
    db: &impl Db,
    who: &Principal,
    input: ProposalInput,
    now: DateTime<Utc>,
) -> DomainResult<proposal::Model> {
    let title = text::check("title", Kind::Name, &input.title)?;
    let body = text::check("body", Kind::Body, &input.body)?;
    let opens_at = bounds::instant("opens_at", input.opens_at.unwrap_or(now))?;
    let closes_at = bounds::instant("closes_at", input.closes_at)?;
    if closes_at <= opens_at || closes_at <= now {
        return Err(DomainError::bad_input(
            "closes_at",
            "a proposal must close in the future, after it opens",
        ));
    }
    let txn = begin_write(db).await?;
    check_audience(&txn, input.department_id).await?;
    require_publisher(&txn, who, input.department_id).await?;
    let row = proposal::ActiveModel {
        title: Set(title),
        body: Set(body),
        author_id: Set(who.employee_id()),
        department_id: Set(input.department_id),
        opens_at: Set(opens_at),
        closes_at: Set(closes_at),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    // Its audience's "to vote" tile changes when it opens and again when it closes.
    live::at(
        &txn,
        Due::ProposalOpens(row.id),
        row.department_id,
        row.opens_at,
        now,
    )
    .await?;
    live::at(
        &txn,
        Due::ProposalCloses(row.id),
        row.department_id,
        row.closes_at,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// One vote per employee, while the proposal is open; a second vote is a conflict.
pub async fn vote(
    db: &impl Db,
    who: &Principal,
    proposal_id: i64,
    choice: VoteChoice,
    now: DateTime<Utc>,
) -> DomainResult<vote::Model> {
    let me = access::require_employee(who)?;
    let txn = begin_write(db).await?;
    let proposal = proposal::Entity::find_by_id(proposal_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("proposal"))?;
    let person = employee::Entity::find_by_id(me)
        .one(&txn)
        .await?
        .ok_or(DomainError::Unauthenticated)?;
    if !in_audience(proposal.department_id, &person) {
        return Err(DomainError::NotFound("proposal"));
    }
    if now < proposal.opens_at || now >= proposal.closes_at {
        return Err(DomainError::Conflict(
            "the proposal is not open for votes".into(),
        ));
    }
    let row = vote::ActiveModel {
        proposal_id: Set(proposal_id),
        employee_id: Set(me),
        choice: Set(choice),
        voted_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(
        |e| match unique_as(crate::error::ONE_VOTE, "proposal_id", "")(e) {
            DomainError::BadInput { .. } => {
                DomainError::Conflict("you have voted on this proposal already".into())
            }
            other => other,
        },
    )?;
    live::announce(&txn, Change::employees([me])).await?;
    txn.commit().await?;
    Ok(row)
}
