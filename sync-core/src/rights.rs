//! Who may do what, and to which data: the role matrix and the scope rules, as pure functions of the replica
//! state. The server enforces them on every pushed op; the phone library checks them before writing, so a user
//! gets the refusal at once rather than at sync.
//!
//! Scope follows the grid cells: a grid worker acts within the cells whose worker set holds them; a volunteer
//! logs their own visits and activities, visits only in cells whose micro-butler set holds them, and raises
//! tickets there; an admin acts everywhere. Card spends are an admin's (the property office) and the server's.
//!
//! The community-level entities: linked bodies and routing rules are an admin's; council decisions are recorded by
//! admins and grid workers (a council is not tied to one cell). Dispatching a ticket, recording a linked body's
//! acceptance and completion, and linking a decision are ticket lifecycle steps, scoped like the others: an admin
//! anywhere, a grid worker within the ticket's cell. Volunteers issue none of these.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

use crate::card::CardOp;
use crate::entry::EntryOp;
use crate::grid::MemberRole;
use crate::ids::{EntryId, GridId, ReplicaId, TicketId, UserId};
use crate::op::{EntityKind, Op, OpBody, OpKind};
use crate::state::State;
use crate::ticket::{EventKind, TicketOp};

/// A user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Cooperative staff and the property office: everything, everywhere.
    Admin,
    /// 网格员: tickets, households, approvals, within their grid cells.
    GridWorker,
    /// Volunteers and micro-butlers: their own log entries, and tickets raised on a visit.
    Volunteer,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::GridWorker => "grid_worker",
            Role::Volunteer => "volunteer",
        }
    }

    /// All roles.
    pub const ALL: [Role; 3] = [Role::Admin, Role::GridWorker, Role::Volunteer];
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "admin" => Ok(Role::Admin),
            "grid_worker" => Ok(Role::GridWorker),
            "volunteer" => Ok(Role::Volunteer),
            _ => Err(()),
        }
    }
}

/// Whether `role` may issue ops of `kind` at all (before scope is considered).
pub fn permits(role: Role, kind: OpKind) -> bool {
    use OpKind as K;
    match role {
        Role::Admin => true,
        Role::GridWorker => !matches!(
            kind,
            K::GridCreate
                | K::GridRename
                | K::GridAddMember
                | K::GridRemoveMember
                | K::CardTransfer
                | K::CardRedeem
                | K::AgencyCreate
                | K::AgencyEdit
                | K::RouteSet
        ),
        Role::Volunteer => matches!(
            kind,
            K::EntryVisit | K::EntryActivity | K::EntryVoid | K::TicketCreate | K::TicketComment
        ),
    }
}

/// Why an op is refused for its author.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RightsError {
    /// The role may never issue this kind.
    #[error("a {role} may not issue `{kind}`")]
    RoleForbidden {
        /// The role.
        role: Role,
        /// The op kind.
        kind: OpKind,
    },
    /// The op touches data outside the author's grid cells (or another volunteer's entries).
    #[error("`{kind}` is outside this user's scope: {reason}")]
    OutOfScope {
        /// The op kind.
        kind: OpKind,
        /// Which rule, without personal data.
        reason: &'static str,
    },
    /// The op claims another device or user than the one authenticated.
    #[error("the op's {field} is not the authenticated {field}")]
    WrongActor {
        /// `replica` or `author`.
        field: &'static str,
    },
}

/// The grid cells where `user` is a member with `role`.
pub fn grids_of(
    state: &State,
    user: UserId,
    role: MemberRole,
) -> impl Iterator<Item = GridId> + '_ {
    state
        .grids()
        .iter()
        .filter(move |(_, g)| g.members(role).iter().any(|u| *u == user))
        .map(|(id, _)| *id)
}

/// Checks that `op` may be issued by `user` with `role` from device `replica`, given what `state` holds. Grid
/// membership is judged as of the op's stamp ([`crate::awset::AwSet::contains_at`]): a remove stamped after the
/// op does not take away rights it was written with.
pub fn authorize(
    state: &State,
    replica: ReplicaId,
    user: UserId,
    role: Role,
    op: &Op,
) -> Result<(), RightsError> {
    authorize_as_of(state, replica, user, role, op, Some(op.stamp()))
}

/// [`authorize`] for a device's own new op: membership as of everything the device's view holds, whatever the
/// op's stamp. A phone whose clock is behind a remove it learnt from a snapshot (which its clock does not
/// observe) would otherwise stamp new work before it and pass; its own view knows better.
pub fn authorize_local(
    state: &State,
    replica: ReplicaId,
    user: UserId,
    role: Role,
    op: &Op,
) -> Result<(), RightsError> {
    authorize_as_of(state, replica, user, role, op, None)
}

/// The rules of [`authorize`], with membership judged as of `at` (`None`: as of everything `state` holds).
fn authorize_as_of(
    state: &State,
    replica: ReplicaId,
    user: UserId,
    role: Role,
    op: &Op,
    at: Option<crate::hlc::Stamp>,
) -> Result<(), RightsError> {
    if op.replica != replica {
        return Err(RightsError::WrongActor { field: "replica" });
    }
    if op.author != user {
        return Err(RightsError::WrongActor { field: "author" });
    }
    let kind = op.kind();
    if !permits(role, kind) {
        return Err(RightsError::RoleForbidden { role, kind });
    }
    let out = |reason| Err(RightsError::OutOfScope { kind, reason });
    // At the server, membership as of the op's stamp (issue 17): work written offline before the author left a
    // cell was within the rights that held when it was written, and a remove the device had seen orders before
    // everything it wrote afterwards (its clock observed the remove), so those later ops are refused as before.
    // On the writing device (`at` is `None`), membership as of everything its view holds.
    let member_of = |grid: Option<GridId>, as_role: MemberRole| {
        grid.and_then(|g| state.grid(&g)).is_some_and(|g| {
            let members = g.members(as_role);
            at.map_or_else(
                || members.contains(&user),
                |at| members.contains_at(&user, at),
            )
        })
    };
    match role {
        Role::Admin => Ok(()),
        Role::GridWorker => {
            if let OpBody::Entry(_, EntryOp::Visit(v)) = &op.body {
                // A grid worker may knock on doors too, logged as their own visit.
                if v.volunteer != user {
                    return out("visits are logged by the person who made them");
                }
            }
            if let OpBody::Entry(_, EntryOp::Activity(a)) = &op.body
                && a.volunteer != user
            {
                return out("activities are logged by the volunteer who gave them");
            }
            if let OpBody::Card(volunteer, CardOp::Credit { entry, .. }) = &op.body {
                let owner = state
                    .entry(entry)
                    .and_then(|e| e.record.as_ref())
                    .map(|(_, r)| r.volunteer());
                if owner != Some(*volunteer) {
                    return out("a credit goes to the card of the entry's volunteer");
                }
            }
            if let OpBody::Decision(..) = &op.body {
                // A council serves the community, not one cell.
                return Ok(());
            }
            if member_of(state.grid_of(op), MemberRole::Worker) {
                Ok(())
            } else {
                out("the grid cell is not one of this grid worker's")
            }
        }
        Role::Volunteer => match &op.body {
            OpBody::Entry(_, EntryOp::Visit(v)) => {
                if v.volunteer != user {
                    return out("visits are logged by the person who made them");
                }
                if !member_of(Some(v.grid), MemberRole::Butler) {
                    return out("the grid cell is not one where this volunteer visits");
                }
                Ok(())
            }
            OpBody::Entry(_, EntryOp::Activity(a)) => {
                if a.volunteer != user {
                    return out("activities are logged by the volunteer who gave them");
                }
                Ok(())
            }
            OpBody::Entry(id, EntryOp::Void(_)) => {
                let own = state
                    .entry(id)
                    .and_then(|e| e.record.as_ref())
                    .is_some_and(|(_, r)| r.volunteer() == user);
                if own {
                    Ok(())
                } else {
                    out("a volunteer may only withdraw their own entries")
                }
            }
            OpBody::Ticket(_, TicketOp::Create(c)) => {
                if member_of(Some(c.grid), MemberRole::Butler) {
                    Ok(())
                } else {
                    out("the grid cell is not one where this volunteer visits")
                }
            }
            OpBody::Ticket(_, TicketOp::Comment { public: true, .. }) => {
                // What a resident sees over Open311 is published by staff (review of issue 13).
                out("a volunteer's comments are internal; staff publish notes for the resident")
            }
            OpBody::Ticket(id, TicketOp::Comment { .. }) => {
                let raised_it = state.ticket(id).is_some_and(|t| {
                    t.timeline()
                        .any(|(_, e)| e.kind == EventKind::Created && e.by == user)
                });
                if raised_it {
                    Ok(())
                } else {
                    out("a volunteer may only comment on tickets they raised")
                }
            }
            _ => Err(RightsError::RoleForbidden { role, kind }),
        },
    }
}

/// What a user may see: the scope of pulls and snapshots.
///
/// - an admin sees everything;
/// - a grid worker sees the grid cells they work in, with their tickets and log entries, their own log entries
///   anywhere, and their own card;
/// - a volunteer sees the grid cells where they are a micro-butler (the household list they knock on), the
///   tickets they raised, their own log entries and their own card.
///
/// Every user also sees the *directory* of grid cells — each cell's id, name and community, from `grid.create` and
/// `grid.rename`, none of its households or members — so that a volunteer can log service hours in any cell and a
/// phone can show cell names. Membership ops about the user themself are always visible, so a device learns that
/// its scope grew. Linked bodies and routing rules hold nothing personal and are visible to every user; council
/// decisions, whose text may name the parties of a dispute, only to admins and grid workers.
#[derive(Clone, Copy, Debug)]
pub struct Viewer {
    /// The user.
    pub user: UserId,
    /// Their role.
    pub role: Role,
}

impl Viewer {
    fn sees_grid(&self, state: &State, grid: GridId) -> bool {
        let role = match self.role {
            Role::Admin => return true,
            Role::GridWorker => MemberRole::Worker,
            Role::Volunteer => MemberRole::Butler,
        };
        state
            .grid(&grid)
            .is_some_and(|g| g.members(role).contains(&self.user))
    }

    fn sees_ticket(&self, state: &State, ticket: &crate::ticket::Ticket) -> bool {
        match self.role {
            Role::Admin => true,
            Role::GridWorker => ticket.grid().is_some_and(|g| self.sees_grid(state, g)),
            Role::Volunteer => ticket
                .timeline()
                .any(|(_, e)| e.kind == EventKind::Created && e.by == self.user),
        }
    }

    fn sees_entry(&self, state: &State, entry: &crate::entry::Entry) -> bool {
        let Some((_, record)) = &entry.record else {
            return self.role == Role::Admin;
        };
        match self.role {
            Role::Admin => true,
            Role::GridWorker => {
                record.volunteer() == self.user || self.sees_grid(state, record.grid())
            }
            Role::Volunteer => record.volunteer() == self.user,
        }
    }

    /// Whether the viewer may receive `op`, judged on `state` (which already holds it).
    pub fn can_see(&self, state: &State, op: &Op) -> bool {
        self.can_see_parts(state, op.kind(), op.body.entity_id(), || op.body.member())
    }

    /// [`Viewer::can_see`] from an op's kind and entity id alone, as a server reads them from its op log without
    /// parsing the op. `member` is asked only for `grid.add_member` and `grid.remove_member` (the one case where
    /// the body decides): the user the op adds or removes.
    pub fn can_see_parts(
        &self,
        state: &State,
        kind: OpKind,
        entity: uuid::Uuid,
        member: impl FnOnce() -> Option<UserId>,
    ) -> bool {
        if self.role == Role::Admin {
            return true;
        }
        let membership = matches!(kind, OpKind::GridAddMember | OpKind::GridRemoveMember);
        if membership && member() == Some(self.user) {
            return true;
        }
        match kind {
            OpKind::GridCreate | OpKind::GridRename => true,
            _ => match kind.entity() {
                EntityKind::Grid => self.sees_grid(state, GridId(entity)),
                EntityKind::Ticket => state
                    .ticket(&TicketId(entity))
                    .is_some_and(|t| self.sees_ticket(state, t)),
                EntityKind::Entry => state
                    .entry(&EntryId(entity))
                    .is_some_and(|e| self.sees_entry(state, e)),
                EntityKind::Card => UserId(entity) == self.user,
                EntityKind::Agency | EntityKind::Route => true,
                // A council's decision text may name the parties of a dispute: staff only (review of issue 13).
                EntityKind::Decision => self.role != Role::Volunteer,
            },
        }
    }

    /// The part of `state` the viewer may see: what a snapshot for their device holds.
    pub fn scope(&self, state: &State) -> State {
        if self.role == Role::Admin {
            return state.clone();
        }
        let mut scoped = state.filtered(
            |id, g| {
                Some(if self.sees_grid(state, *id) {
                    g.clone()
                } else {
                    directory_entry(g)
                })
            },
            |_, t| self.sees_ticket(state, t),
            |_, e| self.sees_entry(state, e),
            |id, _| *id == self.user,
        );
        if self.role == Role::Volunteer {
            // As for their pulls: council decisions are staff's (`sees`).
            scoped.clear_decisions();
        }
        scoped
    }
}

/// A grid cell's directory entry: its creation, name and community, nothing else.
fn directory_entry(g: &crate::grid::Grid) -> crate::grid::Grid {
    crate::grid::Grid {
        created: g.created,
        name: g.name.clone(),
        community: g.community.clone(),
        ..crate::grid::Grid::default()
    }
}
