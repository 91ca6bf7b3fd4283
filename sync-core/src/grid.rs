//! Grid cells (网格): the unit of responsibility and of data scope.
//!
//! Merge rules: name and community are last-writer-wins registers (`crdts::LWWReg`, marker = op stamp); the
//! households, the grid workers, the micro-butlers and the visit assignments (household, butler) are add-wins sets
//! ([`AwSet`]); each household's details are a last-writer-wins register, so `grid.add_household` doubles as an
//! update of a known household.

use crdts::LWWReg;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::awset::AwSet;
use crate::hlc::Stamp;
use crate::ids::{HouseholdId, OpId, UserId};

/// One household (one flat).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Household {
    /// Building number or name.
    pub building: String,
    /// Unit (entrance).
    pub unit: String,
    /// Flat number.
    pub room: String,
    /// An elderly person living alone: needs a daily door-knock visit (敲门行动).
    pub elderly_alone: bool,
    /// Name of the resident to ask for, where the household agreed to give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
}

/// A member's role in a grid cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// 网格员.
    Worker,
    /// 微管家.
    Butler,
}

/// Every op on a grid cell. The wire kind is `grid.<snake_case variant>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", content = "b", rename_all = "snake_case")]
pub enum GridOp {
    /// A new grid cell.
    Create {
        /// Display name, e.g. "第三网格".
        name: String,
        /// The community (社区) it belongs to.
        community: String,
    },
    /// A new name.
    Rename {
        /// Display name.
        name: String,
    },
    /// Add a household, or update one already known.
    AddHousehold {
        /// Which household.
        household: HouseholdId,
        /// Its details.
        #[serde(flatten)]
        details: Household,
    },
    /// Remove a household; `observed` are the add ops the remover saw.
    RemoveHousehold {
        /// Which household.
        household: HouseholdId,
        /// Add ops this remove cancels.
        observed: Vec<OpId>,
    },
    /// Add a grid worker or micro-butler.
    AddMember {
        /// The person.
        user: UserId,
        /// As what.
        role: MemberRole,
    },
    /// Remove a member.
    RemoveMember {
        /// The person.
        user: UserId,
        /// As what.
        role: MemberRole,
        /// Add ops this remove cancels.
        observed: Vec<OpId>,
    },
    /// Make a micro-butler responsible for visiting a household.
    AssignVisit {
        /// The household.
        household: HouseholdId,
        /// The micro-butler.
        butler: UserId,
    },
    /// Undo a visit assignment.
    UnassignVisit {
        /// The household.
        household: HouseholdId,
        /// The micro-butler.
        butler: UserId,
        /// Assign ops this remove cancels.
        observed: Vec<OpId>,
    },
}

/// The replicated state of one grid cell.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Grid {
    /// Stamp of the first create seen (the grid exists once it is set).
    pub created: Option<Stamp>,
    /// Display name.
    pub name: LWWReg<Option<String>, Stamp>,
    /// Community.
    pub community: LWWReg<Option<String>, Stamp>,
    /// Households in the cell.
    pub households: AwSet<HouseholdId>,
    /// Latest details of every household ever added.
    pub household_details: BTreeMap<HouseholdId, LWWReg<Option<Household>, Stamp>>,
    /// Grid workers.
    pub workers: AwSet<UserId>,
    /// Micro-butlers.
    pub butlers: AwSet<UserId>,
    /// Visit assignments.
    pub visits: AwSet<(HouseholdId, UserId)>,
}

impl Grid {
    /// Applies one op. Never fails.
    pub fn apply(&mut self, stamp: Stamp, op: &GridOp) {
        match op {
            GridOp::Create { name, community } => {
                self.created = Some(self.created.map_or(stamp, |s| s.min(stamp)));
                self.name.update(Some(name.clone()), stamp);
                self.community.update(Some(community.clone()), stamp);
            }
            GridOp::Rename { name } => self.name.update(Some(name.clone()), stamp),
            GridOp::AddHousehold { household, details } => {
                self.households.add(*household, stamp.op);
                self.household_details
                    .entry(*household)
                    .or_default()
                    .update(Some(details.clone()), stamp);
            }
            GridOp::RemoveHousehold { observed, .. } => self.households.remove(stamp, observed),
            GridOp::AddMember { user, role } => self.members_mut(*role).add(*user, stamp.op),
            GridOp::RemoveMember { role, observed, .. } => {
                self.members_mut(*role).remove(stamp, observed)
            }
            GridOp::AssignVisit { household, butler } => {
                self.visits.add((*household, *butler), stamp.op)
            }
            GridOp::UnassignVisit { observed, .. } => self.visits.remove(stamp, observed),
        }
    }

    /// State-based merge.
    pub fn merge(&mut self, other: Grid) {
        if let Some(s) = other.created {
            self.created = Some(self.created.map_or(s, |mine| mine.min(s)));
        }
        self.name.update(other.name.val, other.name.marker);
        self.community
            .update(other.community.val, other.community.marker);
        self.households.merge(other.households);
        for (h, reg) in other.household_details {
            self.household_details
                .entry(h)
                .or_default()
                .update(reg.val, reg.marker);
        }
        self.workers.merge(other.workers);
        self.butlers.merge(other.butlers);
        self.visits.merge(other.visits);
    }

    /// The members with `role`.
    pub fn members(&self, role: MemberRole) -> &AwSet<UserId> {
        match role {
            MemberRole::Worker => &self.workers,
            MemberRole::Butler => &self.butlers,
        }
    }

    fn members_mut(&mut self, role: MemberRole) -> &mut AwSet<UserId> {
        match role {
            MemberRole::Worker => &mut self.workers,
            MemberRole::Butler => &mut self.butlers,
        }
    }

    /// Details of a household currently in the cell.
    pub fn household(&self, id: &HouseholdId) -> Option<&Household> {
        if !self.households.contains(id) {
            return None;
        }
        self.household_details.get(id).and_then(|r| r.val.as_ref())
    }

    /// Households in the cell that need a daily door-knock visit.
    pub fn elderly_alone(&self) -> impl Iterator<Item = &HouseholdId> {
        self.households
            .iter()
            .filter(|h| self.household(h).is_some_and(|d| d.elderly_alone))
    }

    /// The households a micro-butler is assigned to visit.
    pub fn visits_of(&self, butler: UserId) -> impl Iterator<Item = HouseholdId> + '_ {
        self.visits
            .iter()
            .filter(move |(h, b)| *b == butler && self.households.contains(h))
            .map(|(h, _)| *h)
    }
}
