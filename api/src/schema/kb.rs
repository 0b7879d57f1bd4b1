//! The knowledge base and proposals.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::enums::VoteChoice as Stored;
use entity::{article, proposal};
use sea_orm::EntityTrait;

use super::mirror::mirror_enum;
use super::org::Department;
use crate::context::{Ctx, db};
use crate::error::OrGql;
use crate::id::{Kind, decode, encode};

mirror_enum!(
    /// A vote on a proposal.
    VoteChoice <=> Stored { For, Against, Abstain }
);

pub struct Article(pub article::Model);

#[Object]
impl Article {
    pub async fn id(&self) -> ID {
        encode(Kind::Article, self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn link(&self) -> Option<&str> {
        self.0.link.as_deref()
    }
    async fn body(&self) -> Option<&str> {
        self.0.body.as_deref()
    }
    /// Everyone must read it, within the reading SLA.
    async fn mandatory(&self) -> bool {
        self.0.mandatory
    }
    async fn published_at(&self) -> DateTime<Utc> {
        self.0.published_at
    }
    /// The audience; null for everyone.
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Department>> {
        match self.0.department_id {
            Some(id) => Ok(Ctx::new(ctx)?.department(id).await?.map(Department)),
            None => Ok(None),
        }
    }
}

pub struct Proposal(pub proposal::Model);

#[Object]
impl Proposal {
    pub async fn id(&self) -> ID {
        encode(Kind::Proposal, self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn opens_at(&self) -> DateTime<Utc> {
        self.0.opens_at
    }
    async fn closes_at(&self) -> DateTime<Utc> {
        self.0.closes_at
    }
    /// The audience; null for everyone.
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Department>> {
        match self.0.department_id {
            Some(id) => Ok(Ctx::new(ctx)?.department(id).await?.map(Department)),
            None => Ok(None),
        }
    }
    /// Your vote, if you cast one.
    async fn my_vote(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<VoteChoice>> {
        let c = Ctx::new(ctx)?;
        let Some(me) = c.who.employee_id() else {
            return Ok(None);
        };
        let vote = c
            .loaders
            .votes
            .load_one((self.0.id, me))
            .await
            .map_err(|e| crate::error::internal(&e))?;
        Ok(vote.map(|v| v.choice.into()))
    }
}

/// An article: a link, a body, or both.
#[derive(InputObject)]
pub struct PublishArticleInput {
    /// At most 200 characters, one line, not blank.
    pub title: String,
    /// An `http://` or `https://` URL, at most 2,048 characters.
    pub link: Option<String>,
    /// At most 20,000 characters.
    pub body: Option<String>,
    /// The audience (a department that exists); omit for everyone.
    pub department_id: Option<ID>,
    #[graphql(default)]
    pub mandatory: bool,
    /// Default: now. From 1900 to 2200.
    pub published_at: Option<DateTime<Utc>>,
}

/// A proposal to vote on.
#[derive(InputObject)]
pub struct CreateProposalInput {
    /// At most 200 characters, one line, not blank.
    pub title: String,
    /// At most 20,000 characters.
    #[graphql(default)]
    pub body: String,
    /// The audience (a department that exists); omit for everyone.
    pub department_id: Option<ID>,
    /// Default: now. From 1900 to 2200.
    pub opens_at: Option<DateTime<Utc>>,
    /// In the future, after `opensAt`, before 2201.
    pub closes_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct KbMutation;

#[Object]
impl KbMutation {
    /// Publishes an article (admins; managers for their own department).
    async fn publish_article(
        &self,
        ctx: &Context<'_>,
        input: PublishArticleInput,
    ) -> async_graphql::Result<Article> {
        let c = Ctx::new(ctx)?;
        let department_id = input
            .department_id
            .map(|d| decode(&d, Kind::Department, "input.departmentId"))
            .transpose()?;
        let input = domain::kb::ArticleInput {
            title: input.title,
            link: input.link,
            body: input.body,
            department_id,
            mandatory: input.mandatory,
            published_at: input.published_at,
        };
        Ok(Article(
            domain::kb::publish_article(c.db(), c.who, input, c.now())
                .await
                .gql_input()?,
        ))
    }

    /// Marks an article read by you; marking twice keeps the first time.
    async fn mark_article_read(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Article> {
        let c = Ctx::new(ctx)?;
        let id = decode(&id, Kind::Article, "id")?;
        domain::kb::mark_read(c.db(), c.who, id, c.now())
            .await
            .gql()?;
        let row = db(article::Entity::find_by_id(id).one(c.db()).await)?
            .ok_or_else(|| crate::error::not_found("article"))?;
        Ok(Article(row))
    }

    /// Puts a proposal to a vote (admins; managers for their own department).
    async fn create_proposal(
        &self,
        ctx: &Context<'_>,
        input: CreateProposalInput,
    ) -> async_graphql::Result<Proposal> {
        let c = Ctx::new(ctx)?;
        let department_id = input
            .department_id
            .map(|d| decode(&d, Kind::Department, "input.departmentId"))
            .transpose()?;
        let input = domain::kb::ProposalInput {
            title: input.title,
            body: input.body,
            department_id,
            opens_at: input.opens_at,
            closes_at: input.closes_at,
        };
        Ok(Proposal(
            domain::kb::create_proposal(c.db(), c.who, input, c.now())
                .await
                .gql_input()?,
        ))
    }

    /// Votes on an open proposal of your audience, once.
    async fn vote(
        &self,
        ctx: &Context<'_>,
        proposal_id: ID,
        choice: VoteChoice,
    ) -> async_graphql::Result<Proposal> {
        let c = Ctx::new(ctx)?;
        let id = decode(&proposal_id, Kind::Proposal, "proposalId")?;
        domain::kb::vote(c.db(), c.who, id, choice.into(), c.now())
            .await
            .gql()?;
        let row = db(proposal::Entity::find_by_id(id).one(c.db()).await)?
            .ok_or_else(|| crate::error::not_found("proposal"))?;
        Ok(Proposal(row))
    }
}
