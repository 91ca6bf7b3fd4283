//! `linli-reports`: the figures admins pull, computed from a replica's merged [`State`] (the server's, normally)
//! and, for fees, the property office's ledger. Pure functions: no I/O, so the server serves them over HTTP and
//! the same code could summarise a device's own scope.
//!
//! Every report says which time it uses — event times from the devices' hybrid logical clocks — and up to which
//! server sequence number it is complete ([`Basis`]). Every figure is defined in `docs/reports.md`.

pub mod agencies;
pub mod calendar;
pub mod compliance;
pub mod councils;
pub mod coverage;
pub mod csv;
pub mod fees;
pub mod hours;
pub mod outcomes;
pub mod policy;
pub mod ranking;
mod select;
pub mod stats;

pub use policy::{AgencyWeights, Basis, Filter, ReportPolicy};

#[cfg(doc)]
use linli_sync_core::state::State;
