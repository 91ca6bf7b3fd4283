//! [`Store`]: one device's replica. It opens the database file (WAL mode, schema upgrades), owns the single writer
//! connection and the in-memory `State`, and records every write as one SQLite transaction that appends the op(s)
//! and updates the views.
//!
//! The write path is the one `sync-core` prescribes: the writer produces ops stamped by the device's hybrid logical
//! clock, `authorize` and `State::validate_local` check them (so a refusal is immediate and typed), then the ops are
//! applied to the state and stored. If storing fails, the in-memory state is reloaded from the file, so memory
//! never holds an op the file does not.

use linli_sync_core::entry::{Activity, EntryStatus, Reason, Record, Visit};
use linli_sync_core::grid::MemberRole;
use linli_sync_core::prelude::{
    AgencyStep, CardOp, EntryId, EntryOp, GridId, Hlc, HlcClock, HouseholdId, Location, Note, Op,
    OpBody, OpError, OpId, Points, Purpose, Rating, ReplicaId, Reporter, RightsError, Role, Rules,
    State, TicketCreate, TicketId, TicketOp, UserId, Writer, authorize_local,
};
use linli_sync_core::review::{ReviewReason, Subject, needs_review};
use linli_sync_core::rights::grids_of;
use rusqlite::{Connection, OptionalExtension};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crate::device::{self, Device};
use crate::error::{Error, Result, invalid};
use crate::key::{self, ReplicaKey};
use crate::oplog;
use crate::schema;
use crate::types::{
    ActivityInput, CardView, DeviceIdentity, GridView, HouseholdView, MySummary, PendingEntry,
    RedeemPurpose, RejectedOp, ReviewItem, SyncStatus, TicketInput, TicketView, VisitInput,
    VisitRecorded,
};
use crate::views::{self, Me};

/// One device's replica.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) state: State,
    pub(crate) writer: Writer,
    pub(crate) me: Me,
    pub(crate) revoked: bool,
    /// The file is encrypted (opened with a key): only then can it be re-keyed.
    pub(crate) encrypted: bool,
    /// A waiting op the server refused `clock_skew` while this phone's clock seemed right: it and the ops written
    /// after it are left out of the next push, so that the ops before it and the pull still go through. Cleared
    /// by the next answer that acknowledges nothing (the pull ran), so the next sync tries it again.
    pub(crate) held: Option<OpId>,
}

/// A lifecycle step on a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketStep {
    /// 签收: take it; the 5-minute clock starts.
    Take(Option<String>),
    /// 到场: on site.
    Arrive(Option<String>),
    /// 解决: solved.
    Solve(Option<String>),
    /// 方案: the plan for a complex problem.
    Plan(String),
    /// 答复: the answer given to the resident.
    Answer(String),
    /// 评价: the resident's satisfaction, 1 to 5.
    Rate(u8, Option<String>),
    /// 重办: reopen.
    Reopen(Option<String>),
    /// 派单: dispatch to a linked body (its id), or reassign to another; the note stays internal.
    Dispatch(String, Option<String>),
}

/// Parses a UUID-based id, naming the field when it is not one.
pub(crate) fn parse_id<T: FromStr>(field: &str, value: &str) -> Result<T> {
    T::from_str(value.trim()).map_err(|_| invalid(field, "is not a UUID"))
}

impl Store {
    /// Opens (or creates) the plain replica at `path` for `identity`. A file that belongs to another device or user
    /// is refused; the role is updated to the one given (the server may have changed it).
    pub fn open(path: &Path, identity: &DeviceIdentity) -> Result<Store> {
        Store::open_with(path, identity, None)
    }

    /// Opens (or creates) the replica at `path`, encrypted with `key` when one is given (a build with the
    /// `sqlcipher` feature). `PRAGMA key` is the first statement on the connection and the key is checked before
    /// anything is written: a wrong or missing key is [`Error::WrongKey`] and leaves the file unchanged.
    pub fn open_with(
        path: &Path,
        identity: &DeviceIdentity,
        key: Option<&ReplicaKey>,
    ) -> Result<Store> {
        let replica: ReplicaId = parse_id("device_id", &identity.device_id)?;
        let user: UserId = parse_id("user_id", &identity.user_id)?;
        let role: Role = identity.role.into();
        let mut conn = Connection::open(path)?;
        let encrypted = key::unlock(&conn, key)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Invalid(format!(
                "the replica file cannot use WAL mode (got {mode})"
            )));
        }
        // FULL: in WAL mode every commit is synced to disk, so an acknowledged write survives a power cut.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(5))?;

        let tx = conn.transaction()?;
        let version = schema::version(&tx)?;
        let rebuild = match version {
            0 => {
                schema::init(&tx)?;
                true
            }
            v if v == schema::VERSION => false,
            v if v < schema::VERSION => schema::upgrade_from(&tx, v)?,
            v => {
                return Err(Error::Invalid(format!(
                    "the replica file has schema version {v}, newer than this library's {}; upgrade the app",
                    schema::VERSION
                )));
            }
        };
        let device = match device::load(&tx)? {
            Some(d) if d.replica != replica || d.user != user => {
                return Err(Error::Invalid(
                    "the replica file belongs to another device or user".into(),
                ));
            }
            Some(d) => {
                if d.role != role {
                    // Another role sees other data: the next sync replaces it with a snapshot of the new scope.
                    tx.execute(
                        "UPDATE device SET role = ?1, scope_stale = 1 WHERE id = 1",
                        [role.as_str()],
                    )?;
                }
                d
            }
            None => {
                device::create(&tx, replica, user, role)?;
                device::load(&tx)?.ok_or_else(|| Error::Invalid("device row missing".into()))?
            }
        };
        let state = load_state(&tx)?;
        let me = Me { user, role };
        if rebuild || device.role != role {
            views::rebuild(&tx, &state, me)?;
        }
        tx.commit()?;
        let clock = HlcClock::restore(device.hlc, device.heard, state.rules().drift);
        Ok(Store {
            conn,
            writer: Writer::new(replica, user, clock),
            state,
            me,
            revoked: device.revoked,
            encrypted,
            held: None,
        })
    }

    /// Re-encrypts the replica with `new_key`; the old key no longer opens it. Only an encrypted replica (opened
    /// with a key) can be re-keyed.
    pub fn rekey(&mut self, new_key: &ReplicaKey) -> Result<()> {
        key::rekey(&self.conn, self.encrypted, new_key)
    }

    /// The connection, for reads.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The replica state in memory.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// This device's replica id.
    pub fn replica(&self) -> ReplicaId {
        self.writer.replica
    }

    pub(crate) fn ensure_active(&self) -> Result<()> {
        if self.revoked {
            Err(Error::Revoked)
        } else {
            Ok(())
        }
    }

    /// Brings the clock back after the phone's clock ran ahead and was set right (ADR 0002). Called only when the
    /// server refused a waiting op `clock_skew` (so it stored none of that batch, and no op re-stamped here is held
    /// by the server under its old time): if the clock's latest time is one it issued itself more than the drift
    /// bound ahead of `now_ms`, the waiting ops stamped that far ahead are stamped again, in the order they were
    /// written (same ids), after every waiting op that keeps its time and every time heard, so that the order of
    /// the device's own work is kept and the server accepts them. A clock that was merely set back is never
    /// treated so: nothing refused it. Returns how many ops were re-stamped.
    pub(crate) fn recover_clock(&mut self, now_ms: u64) -> Result<usize> {
        self.ensure_active()?;
        if !self.writer.clock.runs_ahead(now_ms) {
            return Ok(0);
        }
        let (ahead, kept): (Vec<Op>, Vec<Op>) =
            oplog::unsynced(&self.conn, usize::MAX, usize::MAX)?
                .into_iter()
                .partition(|op| self.writer.clock.beyond_bound(op.time, now_ms));
        let floor = kept.iter().map(|op| op.time).max().unwrap_or_default();
        let mut clock = self.writer.clock.clone();
        let times: Vec<Hlc> = ahead.iter().map(|op| op.time).collect();
        let fresh = clock.restamp(&times, now_ms, floor);
        let tx = self.conn.transaction()?;
        for (op, time) in ahead.iter().zip(fresh) {
            let mut op = op.clone();
            op.time = time;
            oplog::restamp(&tx, &op)?;
        }
        device::save_clock(&tx, &clock)?;
        let state = if ahead.is_empty() {
            None
        } else {
            let state = load_state(&tx)?;
            views::rebuild(&tx, &state, self.me)?;
            Some(state)
        };
        tx.commit()?;
        self.writer.clock = clock;
        if let Some(state) = state {
            self.state = state;
        }
        if self
            .held
            .is_some_and(|held| ahead.iter().any(|op| op.id == held))
        {
            self.held = None;
        }
        Ok(ahead.len())
    }

    /// Checks, applies and stores ops this device wrote, in one transaction.
    pub(crate) fn record(&mut self, ops: &[Op]) -> Result<()> {
        self.ensure_active()?;
        let mut applied = false;
        let result = self.record_inner(ops, &mut applied);
        if result.is_err() && applied {
            // Memory holds ops the file does not: reload from the file, which the failed transaction left as it was.
            if let Ok(state) = load_state(&self.conn) {
                self.state = state;
            }
        }
        result
    }

    fn record_inner(&mut self, ops: &[Op], applied: &mut bool) -> Result<()> {
        for op in ops {
            if let Err(denied) = authorize_local(
                &self.state,
                self.writer.replica,
                self.me.user,
                self.me.role,
                op,
            ) {
                // Scope is judged by the grid cell of the op's target; a target this replica has never heard of
                // has none, which `authorize_local` reports as out of scope. The app's fault is the unknown id, and the
                // remedy differs (sync first, or a wrong id), so that is what is said.
                if matches!(denied, RightsError::OutOfScope { .. })
                    && let Err(unknown @ OpError::UnknownEntity { .. }) = self.state.validate_op(op)
                {
                    return Err(unknown.into());
                }
                return Err(denied.into());
            }
            self.state.validate_local(op)?;
            // Later ops of the same write may depend on earlier ones (a card credit on its approval).
            self.state.apply(op);
            *applied = true;
        }
        let tx = self.conn.transaction()?;
        for op in ops {
            oplog::append_local(&tx, op)?;
        }
        device::save_clock(&tx, &self.writer.clock)?;
        views::refresh(&tx, &self.state, self.me, ops)?;
        tx.commit()?;
        Ok(())
    }

    /// Records a door-knock visit (and its follow-up ticket when a health flag is set).
    pub fn record_visit(&mut self, now_ms: u64, input: &VisitInput) -> Result<VisitRecorded> {
        let entry = EntryId::new_v7(now_ms);
        let visit = Visit {
            volunteer: self.me.user,
            grid: parse_id("grid_id", &input.grid_id)?,
            household: parse_id("household_id", &input.household_id)?,
            seen: input.seen,
            health: input.health.map(Into::into),
            needs: input.needs.iter().copied().map(Into::into).collect(),
            notes: input.notes.clone(),
            follow_up: None,
        };
        let ops = self.writer.visit(now_ms, entry, visit);
        self.record(&ops)?;
        let follow_up = ops.iter().find_map(|op| match &op.body {
            OpBody::Ticket(id, _) => Some(id.to_string()),
            _ => None,
        });
        Ok(VisitRecorded {
            entry_id: entry.to_string(),
            follow_up_ticket_id: follow_up,
        })
    }

    /// Logs a stretch of volunteer service (pending a grid worker's approval). Returns the entry id.
    pub fn log_activity(&mut self, now_ms: u64, input: &ActivityInput) -> Result<String> {
        let entry = EntryId::new_v7(now_ms);
        let activity = Activity {
            volunteer: self.me.user,
            grid: parse_id("grid_id", &input.grid_id)?,
            activity: input.activity.clone(),
            start_ms: input.start_ms,
            end_ms: input.end_ms,
            notes: input.notes.clone(),
        };
        let op = self
            .writer
            .op(now_ms, OpBody::Entry(entry, EntryOp::Activity(activity)));
        self.record(&[op])?;
        Ok(entry.to_string())
    }

    /// Creates a ticket. Returns its id.
    pub fn create_ticket(&mut self, now_ms: u64, input: &TicketInput) -> Result<String> {
        let ticket = TicketId::new_v7(now_ms);
        let household: Option<HouseholdId> = input
            .household_id
            .as_deref()
            .map(|h| parse_id("household_id", h))
            .transpose()?;
        let create = TicketCreate {
            grid: parse_id("grid_id", &input.grid_id)?,
            request_type: input.request_type.into(),
            category: input.category.clone(),
            complexity: input.complexity.into(),
            location: Location {
                building: input.building.clone(),
                unit: input.unit.clone(),
                household,
                lat: None,
                lon: None,
            },
            description: input.description.clone(),
            channel: input.channel.into(),
            reporter: Reporter {
                name: input.reporter_name.clone(),
                phone: input.reporter_phone.clone(),
                household,
            },
            from_visit: None,
        };
        let op = self
            .writer
            .op(now_ms, OpBody::Ticket(ticket, TicketOp::Create(create)));
        self.record(&[op])?;
        Ok(ticket.to_string())
    }

    /// Takes a lifecycle step on a ticket.
    pub fn ticket_step(&mut self, now_ms: u64, ticket_id: &str, step: TicketStep) -> Result<()> {
        let ticket: TicketId = parse_id("ticket_id", ticket_id)?;
        let note = |n: Option<String>| Note {
            note: n,
            public: false,
        };
        let op = match step {
            TicketStep::Take(n) => TicketOp::Take(note(n)),
            TicketStep::Arrive(n) => TicketOp::Arrive(note(n)),
            TicketStep::Solve(n) => TicketOp::Solve(note(n)),
            TicketStep::Plan(p) => TicketOp::Plan(note(Some(p))),
            // What the resident was told is theirs to read: the answer is a public note (Open311 shows it, masked);
            // every other note written on the phone is internal.
            TicketStep::Answer(a) => TicketOp::Answer(Note {
                note: Some(a),
                public: true,
            }),
            TicketStep::Rate(satisfaction, n) => TicketOp::Rate(Rating {
                satisfaction,
                note: n,
            }),
            TicketStep::Reopen(n) => TicketOp::Reopen(note(n)),
            TicketStep::Dispatch(agency, n) => TicketOp::Dispatch(AgencyStep {
                agency: parse_id("agency_id", &agency)?,
                note: n,
                public: false,
            }),
        };
        let op = self.writer.op(now_ms, OpBody::Ticket(ticket, op));
        self.record(&[op])
    }

    /// Approves a volunteer's activity and credits their card, in one write.
    pub fn approve_entry(
        &mut self,
        now_ms: u64,
        entry_id: &str,
        reason: Option<String>,
    ) -> Result<()> {
        let entry: EntryId = parse_id("entry_id", entry_id)?;
        let ops = self.writer.approve(&self.state, now_ms, entry, reason)?;
        self.record(&ops)
    }

    /// Rejects a volunteer's activity.
    pub fn reject_entry(&mut self, now_ms: u64, entry_id: &str, reason: String) -> Result<()> {
        let entry: EntryId = parse_id("entry_id", entry_id)?;
        let op = self.writer.op(
            now_ms,
            OpBody::Entry(
                entry,
                EntryOp::Reject(Reason {
                    reason: Some(reason),
                }),
            ),
        );
        self.record(&[op])
    }

    /// Redeems points from a volunteer's card, within the rights this device holds. Returns the card afterwards.
    pub fn redeem(
        &mut self,
        now_ms: u64,
        volunteer_id: &str,
        points: u64,
        purpose: &RedeemPurpose,
    ) -> Result<CardView> {
        let volunteer: UserId = parse_id("volunteer_id", volunteer_id)?;
        let purpose = match purpose {
            RedeemPurpose::FeeOffset {
                household_id,
                period,
            } => Purpose::FeeOffset {
                household: parse_id("household_id", household_id)?,
                period: period.clone(),
            },
            RedeemPurpose::Goods { item } => Purpose::Goods { item: item.clone() },
        };
        let seq = self
            .state
            .card(&volunteer)
            .map_or(1, |c| c.next_seq(self.writer.replica));
        let op = self.writer.op(
            now_ms,
            OpBody::Card(
                volunteer,
                CardOp::Redeem {
                    points: Points(points),
                    seq,
                    purpose,
                },
            ),
        );
        self.record(&[op])?;
        self.card(volunteer_id)
    }

    /// Households I should visit, with whether they were visited since `day_start_ms`.
    pub fn households_to_visit(&self, day_start_ms: u64) -> Result<Vec<HouseholdView>> {
        views::households_to_visit(&self.conn, day_start_ms)
    }

    /// My open tickets with their 5-20-2-2 steps, judged at `now_ms`.
    pub fn open_tickets(&self, now_ms: u64) -> Result<Vec<TicketView>> {
        views::open_tickets(&self.conn, now_ms)
    }

    /// Grid cells I cover.
    pub fn grid_cells(&self) -> Result<Vec<GridView>> {
        views::grid_cells(&self.conn)
    }

    /// My hours and card balance.
    pub fn summary(&self) -> Result<MySummary> {
        views::summary(&self.conn)
    }

    /// A volunteer's card as this device sees it.
    pub fn card(&self, volunteer_id: &str) -> Result<CardView> {
        let volunteer: UserId = parse_id("volunteer_id", volunteer_id)?;
        let card = self.state.card(&volunteer);
        Ok(CardView {
            volunteer_id: volunteer.to_string(),
            balance: card.map_or(0, |c| c.balance().0),
            rights_here: card.map_or(0, |c| c.rights(self.writer.replica).0),
            pending_spends: card.map_or(0, |c| c.pending().count() as u64),
        })
    }

    /// Activities waiting for a decision in the cells where I am a grid worker (everywhere, for an admin).
    pub fn pending_entries(&self) -> Result<Vec<PendingEntry>> {
        let mine: Vec<GridId> = grids_of(&self.state, self.me.user, MemberRole::Worker).collect();
        let mut out = Vec::new();
        for (id, e) in self.state.entries() {
            let Some((_, Record::Activity(a))) = &e.record else {
                continue;
            };
            let visible = self.me.role == Role::Admin || mine.contains(&a.grid);
            if visible && e.status() == EntryStatus::Pending {
                out.push(PendingEntry {
                    entry_id: id.to_string(),
                    volunteer_id: a.volunteer.to_string(),
                    grid_id: a.grid.to_string(),
                    activity: a.activity.clone(),
                    start_ms: a.start_ms,
                    end_ms: a.end_ms,
                    minutes: a.minutes(),
                });
            }
        }
        Ok(out)
    }

    /// The review list of the cells where I am a grid worker (everywhere, for an admin): visits and open tickets
    /// that were accepted as written within the rights of their time, but that the cell no longer explains.
    pub fn review_list(&self) -> Result<Vec<ReviewItem>> {
        let mine: Vec<GridId> = grids_of(&self.state, self.me.user, MemberRole::Worker).collect();
        Ok(needs_review(&self.state)
            .into_iter()
            .filter(|i| self.me.role == Role::Admin || mine.contains(&i.grid))
            .map(|i| {
                let (kind, entity_id) = match i.subject {
                    Subject::Visit(e) => ("visit", e.to_string()),
                    Subject::Ticket(t) => ("ticket", t.to_string()),
                };
                let reason = match i.reason {
                    ReviewReason::HouseholdRemoved => "household_removed",
                    ReviewReason::AuthorLeftCell => "author_left_cell",
                };
                ReviewItem {
                    kind: kind.to_owned(),
                    entity_id,
                    grid_id: i.grid.to_string(),
                    reason: reason.to_owned(),
                    by_user_id: i.by.to_string(),
                    at_ms: i.at.time.wall_ms,
                }
            })
            .collect())
    }

    /// Ops the server refused for good.
    pub fn rejected_ops(&self) -> Result<Vec<RejectedOp>> {
        Ok(oplog::set_aside_ops(&self.conn)?
            .into_iter()
            .map(|(op, code, at)| RejectedOp {
                op_id: op.id.to_string(),
                kind: op.kind().as_str().to_owned(),
                entity_id: op.body.entity_id().to_string(),
                code,
                rejected_ms: at,
            })
            .collect())
    }

    /// The sync state.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        let d = self.device()?;
        Ok(SyncStatus {
            device_id: d.replica.to_string(),
            user_id: d.user.to_string(),
            role: d.role.into(),
            cursor: d.cursor,
            unsynced_ops: oplog::unsynced_count(&self.conn)?,
            last_sync_ms: d.last_sync_ms,
        })
    }

    pub(crate) fn device(&self) -> Result<Device> {
        device::load(&self.conn)?.ok_or_else(|| Error::Invalid("device row missing".into()))
    }
}

/// The state the file holds: the base snapshot (if the device was bootstrapped) with every stored op applied.
pub(crate) fn load_state(conn: &Connection) -> Result<State> {
    let base: Option<String> = conn
        .query_row("SELECT state FROM base_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let mut state = match base {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| crate::error::json("the stored snapshot", &e))?,
        None => State::new(Rules::DEFAULT),
    };
    for op in oplog::all(conn)? {
        state.apply(&op);
    }
    Ok(state)
}
