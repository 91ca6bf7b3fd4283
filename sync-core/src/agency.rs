//! Linked bodies (联动单位): the outside bodies a community's tickets are dispatched to — the law enforcement
//! bureau, the police station, utilities, local firms. Community-level: an agency belongs to no grid cell.
//!
//! Merge rules: every field is a last-writer-wins register (`crdts::LWWReg`, marker = op stamp); `agency.create`
//! writes their first values, `agency.edit` the fields it names. If two creates ever carried the same agency id
//! (the server refuses the second), the smaller stamp is the agency's creation on every replica and the fields hold
//! the last writer's values, as for a ticket's create and its editable fields.
//!
//! An agency has no account: its acceptance and completion of a ticket are written by staff on its behalf
//! (`ticket.agency_accept`, `ticket.agency_complete`). It holds no personal data: `contact_role` names a role such
//! as "执法队值班", never a person's name or phone number.

use crdts::LWWReg;
use serde::{Deserialize, Serialize};

use crate::hlc::Stamp;

/// What kind of body it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgencyKind {
    /// 综合行政执法局: the law enforcement bureau.
    LawEnforcement,
    /// 派出所: the police station.
    Police,
    /// A government office (street office, housing bureau…).
    Government,
    /// Water, power, gas, heating.
    Utility,
    /// A local firm (repairs, cleaning, car wash…).
    Firm,
    /// A social organisation.
    SocialOrg,
    /// Anything else.
    Other,
}

/// Body of `agency.create`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyCreate {
    /// Display name, e.g. "城东派出所".
    pub name: String,
    /// What kind of body.
    pub kind: AgencyKind,
    /// Whom to contact there, as a role (e.g. "执法队值班"), never a person's name or number.
    pub contact_role: String,
    /// The ticket categories it handles, e.g. `["parking", "noise"]`.
    #[serde(default)]
    pub categories: Vec<String>,
}

/// Body of `agency.edit`: only the fields present change.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgencyEdit {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AgencyKind>,
    /// New contact role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_role: Option<String>,
    /// The new list of categories (replaces the old one as a whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

impl AgencyEdit {
    /// True when the edit names no field.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.kind.is_none()
            && self.contact_role.is_none()
            && self.categories.is_none()
    }
}

/// Every op on an agency. The wire kind is `agency.<snake_case variant>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", content = "b", rename_all = "snake_case")]
pub enum AgencyOp {
    /// A new linked body.
    Create(AgencyCreate),
    /// Change some of its fields.
    Edit(AgencyEdit),
}

/// The replicated state of one linked body.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Agency {
    /// Stamp of the smallest create seen (the agency exists once it is set).
    pub created: Option<Stamp>,
    /// Display name.
    pub name: LWWReg<Option<String>, Stamp>,
    /// Kind of body.
    pub kind: LWWReg<Option<AgencyKind>, Stamp>,
    /// Contact role.
    pub contact_role: LWWReg<Option<String>, Stamp>,
    /// Categories handled.
    pub categories: LWWReg<Option<Vec<String>>, Stamp>,
}

impl Agency {
    /// Applies one op. Never fails.
    pub fn apply(&mut self, stamp: Stamp, op: &AgencyOp) {
        match op {
            AgencyOp::Create(c) => {
                self.created = Some(self.created.map_or(stamp, |s| s.min(stamp)));
                self.name.update(Some(c.name.clone()), stamp);
                self.kind.update(Some(c.kind), stamp);
                self.contact_role
                    .update(Some(c.contact_role.clone()), stamp);
                self.categories.update(Some(c.categories.clone()), stamp);
            }
            AgencyOp::Edit(e) => {
                if let Some(n) = &e.name {
                    self.name.update(Some(n.clone()), stamp);
                }
                if let Some(k) = e.kind {
                    self.kind.update(Some(k), stamp);
                }
                if let Some(r) = &e.contact_role {
                    self.contact_role.update(Some(r.clone()), stamp);
                }
                if let Some(c) = &e.categories {
                    self.categories.update(Some(c.clone()), stamp);
                }
            }
        }
    }

    /// State-based merge.
    pub fn merge(&mut self, other: Agency) {
        if let Some(s) = other.created {
            self.created = Some(self.created.map_or(s, |mine| mine.min(s)));
        }
        self.name.update(other.name.val, other.name.marker);
        self.kind.update(other.kind.val, other.kind.marker);
        self.contact_role
            .update(other.contact_role.val, other.contact_role.marker);
        self.categories
            .update(other.categories.val, other.categories.marker);
    }

    /// Whether its create is known.
    pub fn exists(&self) -> bool {
        self.created.is_some()
    }

    /// Whether it handles `category`.
    pub fn handles(&self, category: &str) -> bool {
        self.categories
            .val
            .as_ref()
            .is_some_and(|c| c.iter().any(|x| x == category))
    }
}
