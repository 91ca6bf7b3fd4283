//! Routing rules: a ticket category, optionally within one grid cell, maps to a default handler — a user or a
//! linked body. Community-level entities written by admins.
//!
//! Merge rule: a route entity holds one last-writer-wins register (`crdts::LWWReg`, marker = op stamp) of its
//! whole rule, (category, grid, handler): every `route.set` rewrites all three, and one whose `to` is absent clears
//! the rule (it stays as a tombstone with its stamp, so a concurrent older set cannot bring it back).
//!
//! Routing is derived state, never a server-written op: who a ticket goes to by default is computed on every
//! query from the rules and the ticket's *current* category and grid ([`crate::state::State::handler_of`]). So a
//! recategorised ticket (`ticket.edit` with a new category) is re-routed with no extra op, a rule changed later
//! re-routes the open tickets it covers, and every replica that holds the same ops routes the same way — a
//! server-written "routed to" op would race with the edits made offline and need its own merge rule (ADR 0008).

use crdts::LWWReg;
use serde::{Deserialize, Serialize};

use crate::hlc::Stamp;
use crate::ids::{AgencyId, GridId, UserId};

/// Who handles a ticket: a user with an account, or a linked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handler {
    /// A grid worker or admin.
    User(UserId),
    /// A linked body.
    Agency(AgencyId),
}

/// Body of `route.set`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSet {
    /// The ticket category it applies to.
    pub category: String,
    /// Only tickets of this grid cell; absent: the whole community.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<GridId>,
    /// The default handler; absent: the rule is cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Handler>,
}

/// Every op on a routing rule. The wire kind is `route.<snake_case variant>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", content = "b", rename_all = "snake_case")]
pub enum RouteOp {
    /// Set (or clear) the rule.
    Set(RouteSet),
}

/// The replicated state of one routing rule.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Route {
    /// The latest `route.set`.
    pub rule: LWWReg<Option<RouteSet>, Stamp>,
}

impl Route {
    /// Applies one op. Never fails.
    pub fn apply(&mut self, stamp: Stamp, op: &RouteOp) {
        match op {
            RouteOp::Set(s) => self.rule.update(Some(s.clone()), stamp),
        }
    }

    /// State-based merge.
    pub fn merge(&mut self, other: Route) {
        self.rule.update(other.rule.val, other.rule.marker);
    }

    /// The rule and its handler, unless it was cleared.
    pub fn live(&self) -> Option<(&RouteSet, Handler)> {
        self.rule.val.as_ref().and_then(|r| r.to.map(|to| (r, to)))
    }
}
