//! `linli-sync-core`: the domain model that phones and the server share. Tickets, grid cells, volunteer log
//! entries, green-energy-card balances, linked bodies, council decisions and routing rules as CRDTs; the hybrid logical clock; the op envelope and its JSON wire
//! form; validation and the rights matrix. Pure logic: no I/O, no database, no network.
//!
//! The one path for every op, local or remote:
//!
//! ```
//! use linli_sync_core::prelude::*;
//!
//! let rules = Rules::DEFAULT;
//! let mut state = State::new(rules);
//! let mut admin = Writer::new(ReplicaId::random(), UserId::random(), HlcClock::new(rules.drift));
//! let grid = GridId::random();
//! let op = admin.op(1_764_288_000_000, OpBody::Grid(grid, GridOp::Create {
//!     name: "第三网格".into(),
//!     community: "幸福里社区".into(),
//! }));
//! state.validate_local(&op).expect("valid");
//! state.apply(&op);
//! state.apply(&op); // delivered twice: no change
//! assert_eq!(state.grid(&grid).and_then(|g| g.name.val.clone()).as_deref(), Some("第三网格"));
//! ```

pub mod agency;
pub mod awset;
pub mod card;
#[cfg(feature = "checkpoint")]
pub mod checkpoint;
pub mod decision;
pub mod entry;
pub mod error;
pub mod grid;
pub mod hlc;
pub mod ids;
pub mod op;
mod pairs;
pub mod redact;
pub mod review;
pub mod rights;
pub mod route;
pub mod rule52022;
pub mod state;
pub mod sync;
pub mod ticket;
pub mod writer;

#[cfg(feature = "test-support")]
pub mod test_support;

/// The names most users need.
pub mod prelude {
    pub use crate::agency::{AgencyCreate, AgencyEdit, AgencyKind, AgencyOp};
    pub use crate::card::{Card, CardOp, CardPolicy, Points, Purpose};
    pub use crate::decision::{Council, DecisionEdit, DecisionOp, DecisionRecord};
    pub use crate::entry::{Activity, EntryOp, EntryStatus, HealthFlag, Need, Reason, Visit};
    pub use crate::error::OpError;
    pub use crate::grid::{GridOp, Household, MemberRole};
    pub use crate::hlc::{ClockError, DriftPolicy, Hlc, HlcClock, Stamp};
    pub use crate::ids::{
        AgencyId, DecisionId, EntryId, GridId, HouseholdId, OpId, ReplicaId, RouteId, TicketId,
        UserId,
    };
    pub use crate::op::{EntityKind, Op, OpBody, OpKind, WIRE_VERSION, WireError};
    pub use crate::rights::{RightsError, Role, Viewer, authorize, authorize_local, permits};
    pub use crate::route::{Handler, RouteOp, RouteSet};
    pub use crate::rule52022::{Evaluation, Policy52022, Verdict, evaluate};
    pub use crate::state::{Responsible, Rules, State};
    pub use crate::sync::{PROTOCOL_VERSION, Snapshot, SyncRequest, SyncResponse};
    pub use crate::ticket::{
        AgencyStep, Channel, Complexity, Location, Note, PublicUpdate, Rating, Reporter,
        RequestType, Status, TicketCreate, TicketEdit, TicketOp, UpdateKind,
    };
    pub use crate::writer::Writer;
}
