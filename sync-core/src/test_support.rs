//! Property-test support (feature `test-support`): a small simulated community whose replicas act on their own,
//! possibly stale, views and produce *valid* op histories, plus the `proptest` strategies that drive it. The server
//! and the phone library reuse these instead of writing their own generators.
//!
//! A history is built by interpreting a list of random [`Action`]s: each picks a replica, maybe lets it hear what
//! others wrote so far (a partial sync), then has it attempt one write against its local view. Writes that its view
//! refuses (`State::validate_local`, `rights::authorize`) are skipped, exactly as a phone's UI would refuse them, so
//! concurrency arises naturally: two replicas that have not heard of each other both take the same ticket, both
//! approve the same entry, and so on.

use proptest::prelude::*;
use uuid::Uuid;

use crate::agency::{AgencyCreate, AgencyEdit, AgencyKind, AgencyOp};
use crate::card::{CardOp, Points, Purpose};
use crate::decision::{Council, DecisionEdit, DecisionOp, DecisionRecord};
use crate::entry::{Activity, EntryOp, HealthFlag, Need, Reason, Visit};
use crate::grid::{GridOp, Household, MemberRole};
use crate::hlc::DriftPolicy;
use crate::hlc::HlcClock;
use crate::ids::{
    AgencyId, DecisionId, EntryId, GridId, HouseholdId, ReplicaId, RouteId, TicketId, UserId,
};
use crate::op::{Op, OpBody};
use crate::rights::{Role, authorize_local};
use crate::route::{Handler, RouteOp, RouteSet};
use crate::state::{Rules, State};
use crate::ticket::{
    AgencyStep, Channel, Complexity, Location, Note, Rating, Reporter, RequestType, TicketCreate,
    TicketEdit, TicketOp,
};
use crate::writer::Writer;

pub mod offline;

/// Start of simulated time: 2026-11-27 08:00 UTC.
pub const T0: u64 = 1_795_766_400_000;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0000 | n)
}

/// The fixed cast of the simulated community.
#[derive(Clone, Debug)]
pub struct Cast {
    /// Two grid cells.
    pub grids: [GridId; 2],
    /// Three households per grid cell, `[grid][i]`.
    pub households: [[HouseholdId; 3]; 2],
    /// The admin (also the server's author).
    pub admin: UserId,
    /// A grid worker in grid 0.
    pub worker_a: UserId,
    /// A grid worker in grid 1.
    pub worker_b: UserId,
    /// A micro-butler in both grid cells.
    pub butler: UserId,
    /// The property-office admin.
    pub office: UserId,
    /// Linked bodies the admins may create (and create concurrently).
    pub agencies: [AgencyId; 2],
    /// Council decisions the admins and grid workers may record.
    pub decisions: [DecisionId; 2],
    /// Routing rules the admins may set.
    pub routes: [RouteId; 3],
}

impl Default for Cast {
    fn default() -> Self {
        Cast {
            grids: [GridId(id(1)), GridId(id(2))],
            households: [
                [
                    HouseholdId(id(11)),
                    HouseholdId(id(12)),
                    HouseholdId(id(13)),
                ],
                [
                    HouseholdId(id(21)),
                    HouseholdId(id(22)),
                    HouseholdId(id(23)),
                ],
            ],
            admin: UserId(id(100)),
            worker_a: UserId(id(101)),
            worker_b: UserId(id(102)),
            butler: UserId(id(103)),
            office: UserId(id(104)),
            agencies: [AgencyId(id(301)), AgencyId(id(302))],
            decisions: [DecisionId(id(401)), DecisionId(id(402))],
            routes: [RouteId(id(501)), RouteId(id(502)), RouteId(id(503))],
        }
    }
}

/// One simulated replica.
#[derive(Clone, Debug)]
pub struct SimReplica {
    /// Its writer (identity and clock).
    pub writer: Writer,
    /// Its role.
    pub role: Role,
    /// Its local view.
    pub state: State,
    /// How many ops of the global log it has heard.
    pub heard: usize,
    /// Its physical clock's offset from true time, ms.
    pub skew_ms: i64,
}

/// One random step.
#[derive(Clone, Copy, Debug)]
pub struct Action {
    /// Which replica acts (modulo the count).
    pub replica: u8,
    /// Hear everything written so far before acting.
    pub sync: bool,
    /// What to attempt.
    pub choice: u8,
    /// Parameters.
    pub a: u8,
    /// Parameters.
    pub b: u8,
    /// Simulated time passing before the action, seconds.
    pub advance_s: u16,
}

/// Strategy for one action.
pub fn action() -> impl Strategy<Value = Action> {
    (
        any::<u8>(),
        prop::bool::weighted(0.3),
        0u8..20,
        any::<u8>(),
        any::<u8>(),
        0u16..900,
    )
        .prop_map(|(replica, sync, choice, a, b, advance_s)| Action {
            replica,
            sync,
            choice,
            a,
            b,
            advance_s,
        })
}

/// A valid op history of a simulated community.
#[derive(Clone, Debug)]
pub struct History {
    /// The set-up ops (grid cells, households, members), then every op in the order it was written.
    pub ops: Vec<Op>,
    /// The cast.
    pub cast: Cast,
}

/// Strategy for a history of up to `max_actions` random actions among `replicas` writing replicas (2 to 5).
pub fn history(replicas: usize, max_actions: usize) -> impl Strategy<Value = History> {
    prop::collection::vec(action(), 0..max_actions)
        .prop_map(move |actions| History::simulate(replicas, &actions))
}

impl History {
    /// Interprets `actions` among `replicas` replicas (clamped to 2..=5). Replica 0 is the server (admin); then a
    /// grid worker of grid 0, a micro-butler, the property office, a grid worker of grid 1.
    pub fn simulate(replicas: usize, actions: &[Action]) -> History {
        let cast = Cast::default();
        let rules = Rules::DEFAULT;
        let n = replicas.clamp(2, 5);
        let people = [
            (ReplicaId::SERVER, cast.admin, Role::Admin, 0i64),
            (ReplicaId(id(201)), cast.worker_a, Role::GridWorker, -90_000),
            (ReplicaId(id(202)), cast.butler, Role::Volunteer, 240_000),
            (ReplicaId(id(203)), cast.office, Role::Admin, 30_000),
            (
                ReplicaId(id(204)),
                cast.worker_b,
                Role::GridWorker,
                -3_600_000,
            ),
        ];
        let mut sims: Vec<SimReplica> = people[..n]
            .iter()
            .enumerate()
            .map(|(i, (replica, user, role, skew_ms))| SimReplica {
                writer: Writer::deterministic(
                    *replica,
                    *user,
                    HlcClock::new(rules.drift),
                    i as u16 + 1,
                ),
                role: *role,
                state: State::new(rules),
                heard: 0,
                skew_ms: *skew_ms,
            })
            .collect();
        let mut log: Vec<Op> = setup(&cast, &mut sims[0].writer);
        for s in &mut sims {
            for op in &log {
                s.state.apply(op);
            }
            s.heard = log.len();
        }
        let mut now = T0 + 60_000;
        for act in actions {
            now += u64::from(act.advance_s) * 1000;
            let r = usize::from(act.replica) % n;
            let sim = &mut sims[r];
            // The server (replica 0) hears pushes more often than phones pull.
            if act.sync || (r == 0 && act.a % 2 == 0) {
                for op in &log[sim.heard..] {
                    sim.state.apply(op);
                    let _ = sim.writer.clock.observe(op.time, local(now, sim.skew_ms));
                }
                sim.heard = log.len();
            }
            let ops = attempt(sim, &cast, act, local(now, sim.skew_ms));
            for op in ops {
                log.push(op);
            }
        }
        History { ops: log, cast }
    }
}

fn local(now: u64, skew: i64) -> u64 {
    now.saturating_add_signed(skew)
}

fn setup(cast: &Cast, w: &mut Writer) -> Vec<Op> {
    let t = T0;
    let mut ops = Vec::new();
    for (g, grid) in cast.grids.iter().enumerate() {
        ops.push(w.op(
            t,
            OpBody::Grid(
                *grid,
                GridOp::Create {
                    name: format!("第{}网格", g + 1),
                    community: "幸福里社区".into(),
                },
            ),
        ));
        for (i, h) in cast.households[g].iter().enumerate() {
            ops.push(w.op(
                t,
                OpBody::Grid(
                    *grid,
                    GridOp::AddHousehold {
                        household: *h,
                        details: Household {
                            building: format!("{}", g + 1),
                            unit: "1".into(),
                            room: format!("10{}", i + 1),
                            elderly_alone: i != 2,
                            contact_name: None,
                        },
                    },
                ),
            ));
            ops.push(w.op(
                t,
                OpBody::Grid(
                    *grid,
                    GridOp::AssignVisit {
                        household: *h,
                        butler: cast.butler,
                    },
                ),
            ));
        }
        let worker = if g == 0 { cast.worker_a } else { cast.worker_b };
        for (user, role) in [
            (worker, MemberRole::Worker),
            (cast.butler, MemberRole::Butler),
        ] {
            ops.push(w.op(t, OpBody::Grid(*grid, GridOp::AddMember { user, role })));
        }
    }
    // One linked body and one council decision known from the start, so that dispatches and decisions happen
    // often; the second of each is left to the actions, whose creates can race.
    ops.push(w.op(
        t,
        OpBody::Agency(
            cast.agencies[0],
            AgencyOp::Create(AgencyCreate {
                name: "综合行政执法局".into(),
                kind: AgencyKind::LawEnforcement,
                contact_role: "执法队值班".into(),
                categories: vec!["dispute".into()],
            }),
        ),
    ));
    ops.push(w.op(
        t,
        OpBody::Decision(
            cast.decisions[0],
            DecisionOp::Record(DecisionRecord {
                date: "2026-11-26".into(),
                council: Council::ResidentsCouncil,
                council_name: "1号楼居民议事会".into(),
                text: "决议".into(),
            }),
        ),
    ));
    ops
}

/// The card on which `replica` holds the most rights (`fallback` when it holds none).
fn richest_card(state: &State, replica: ReplicaId, fallback: UserId) -> UserId {
    state
        .cards()
        .iter()
        .max_by_key(|(_, c)| c.rights(replica))
        .filter(|(_, c)| c.rights(replica).0 > 0)
        .map_or(fallback, |(id, _)| *id)
}

/// Attempts one write on `sim`'s view; returns the ops written (empty when its view refuses).
fn attempt(sim: &mut SimReplica, cast: &Cast, act: &Action, now: u64) -> Vec<Op> {
    let author = sim.writer.author;
    let grid = cast.grids[usize::from(act.a) % 2];
    let household = cast.households[usize::from(act.a) % 2][usize::from(act.b) % 3];
    let pick = |keys: Vec<Uuid>| -> Option<Uuid> {
        (!keys.is_empty()).then(|| keys[usize::from(act.b) % keys.len()])
    };
    let ticket = pick(sim.state.tickets().keys().map(|k| k.0).collect()).map(TicketId);
    let entry = pick(sim.state.entries().keys().map(|k| k.0).collect()).map(EntryId);
    let w = &mut sim.writer;
    let ops: Vec<Op> = match act.choice {
        0 => {
            let id = TicketId(Uuid::from_u128(u128::from(act.a) << 64 | u128::from(now)));
            vec![
                w.op(
                    now,
                    OpBody::Ticket(
                        id,
                        TicketOp::Create(TicketCreate {
                            grid,
                            request_type: RequestType::Complaint,
                            category: if act.b.is_multiple_of(3) {
                                "dispute"
                            } else {
                                "water_leak"
                            }
                            .into(),
                            complexity: if act.b.is_multiple_of(2) {
                                Complexity::Complex
                            } else {
                                Complexity::Small
                            },
                            location: Location {
                                building: "1".into(),
                                household: Some(household),
                                ..Location::default()
                            },
                            description: "楼道漏水".into(),
                            channel: Channel::Desk,
                            reporter: Reporter::default(),
                            from_visit: None,
                        }),
                    ),
                ),
            ]
        }
        1..=4 => {
            let Some(t) = ticket else { return Vec::new() };
            let public = act.b % 2 == 1;
            let note = Note { note: None, public };
            let text = Note {
                note: Some(
                    if public {
                        "方案/答复"
                    } else {
                        "内部：方案/答复"
                    }
                    .into(),
                ),
                public,
            };
            let op = match act.a % 17 {
                0..=2 => TicketOp::Take(note),
                3 | 4 => TicketOp::Arrive(note),
                5 | 6 => TicketOp::Solve(note),
                7 => TicketOp::Plan(text),
                8 => TicketOp::Answer(text),
                9 => TicketOp::Rate(Rating {
                    satisfaction: act.b % 5 + 1,
                    note: None,
                }),
                10 => TicketOp::Reopen(note),
                11 => TicketOp::SendBack(note),
                12 => TicketOp::Close(note),
                13 => TicketOp::Comment {
                    text: if public {
                        "已联系"
                    } else {
                        "内部：已联系"
                    }
                    .into(),
                    public,
                },
                14 => TicketOp::Edit(TicketEdit {
                    complexity: Some(Complexity::Complex),
                    description: Some(format!("更新 {}", act.b)),
                    // Recategorising re-routes the ticket (`State::handler_of`).
                    category: act.b.is_multiple_of(3).then(|| {
                        if act.b.is_multiple_of(2) {
                            "dispute".into()
                        } else {
                            "water_leak".into()
                        }
                    }),
                }),
                15 => TicketOp::Assign { user: author },
                _ => {
                    let observed = sim
                        .state
                        .ticket(&t)
                        .map(|t| t.assignees.live_tags(&author))
                        .unwrap_or_default();
                    TicketOp::Unassign {
                        user: author,
                        observed,
                    }
                }
            };
            vec![w.op(now, OpBody::Ticket(t, op))]
        }
        5 | 6 => {
            let e = EntryId(Uuid::from_u128(
                u128::from(act.b) << 64 | u128::from(now) | 1 << 120,
            ));
            let health = act.b.is_multiple_of(4).then_some(HealthFlag::Unwell);
            w.visit(
                now,
                e,
                Visit {
                    volunteer: author,
                    grid,
                    household,
                    seen: !act.b.is_multiple_of(3),
                    health,
                    needs: if act.b.is_multiple_of(5) {
                        vec![Need::Groceries]
                    } else {
                        Vec::new()
                    },
                    notes: String::new(),
                    follow_up: None,
                },
            )
        }
        7 => {
            let e = EntryId(Uuid::from_u128(
                u128::from(act.b) << 64 | u128::from(now) | 2 << 120,
            ));
            let minutes = 15 + u64::from(act.b) * 2;
            vec![w.op(
                now,
                OpBody::Entry(
                    e,
                    EntryOp::Activity(Activity {
                        volunteer: author,
                        grid,
                        activity: "patrol".into(),
                        start_ms: now - minutes * 60_000,
                        end_ms: now,
                        notes: String::new(),
                    }),
                ),
            )]
        }
        8 | 19 => {
            let Some(e) = entry else { return Vec::new() };
            w.approve(&sim.state, now, e, None).unwrap_or_default()
        }
        9 => {
            let Some(e) = entry else { return Vec::new() };
            let reason = Reason {
                reason: Some("记录有误".into()),
            };
            let op = if act.a.is_multiple_of(2) {
                EntryOp::Reject(reason)
            } else {
                EntryOp::Void(reason)
            };
            vec![w.op(now, OpBody::Entry(e, op))]
        }
        10 | 11 => {
            // Grant rights to the property office's device (from the server), or return them.
            let card = richest_card(&sim.state, w.replica, cast.butler);
            let office = ReplicaId(id(203));
            let to = if w.replica == ReplicaId::SERVER {
                office
            } else {
                ReplicaId::SERVER
            };
            let held = sim.state.card(&card).map_or(0, |c| c.rights(w.replica).0);
            let points = (u64::from(act.b) % 40 + 1).min(held.max(1));
            let seq = sim.state.card(&card).map_or(1, |c| c.next_seq(w.replica));
            vec![w.op(
                now,
                OpBody::Card(
                    card,
                    CardOp::Transfer {
                        to,
                        points: Points(points),
                        seq,
                    },
                ),
            )]
        }
        12 | 13 => {
            let card = richest_card(&sim.state, w.replica, cast.butler);
            let held = sim.state.card(&card).map_or(0, |c| c.rights(w.replica).0);
            // Sometimes try to overdraw: the local view must refuse it.
            let points = if act.a.is_multiple_of(4) {
                held + 1
            } else {
                (u64::from(act.b) % 30 + 1).min(held.max(1))
            };
            let seq = sim.state.card(&card).map_or(1, |c| c.next_seq(w.replica));
            vec![w.op(
                now,
                OpBody::Card(
                    card,
                    CardOp::Redeem {
                        points: Points(points),
                        seq,
                        purpose: Purpose::FeeOffset {
                            household,
                            period: "2026-11".into(),
                        },
                    },
                ),
            )]
        }
        16 => {
            // The community-level entities: creates of the same id race between the two admins.
            let agency = cast.agencies[usize::from(act.b) % 2];
            let decision = cast.decisions[usize::from(act.b) % 2];
            let categories = |n: u8| -> Vec<String> {
                ["dispute", "water_leak", "parking"][..usize::from(n % 3) + 1]
                    .iter()
                    .map(|c| (*c).to_string())
                    .collect()
            };
            let body = match act.a % 6 {
                0 | 1 => OpBody::Agency(
                    agency,
                    AgencyOp::Create(AgencyCreate {
                        name: format!("联动单位{}", act.b % 2 + 1),
                        kind: if act.a.is_multiple_of(8) {
                            AgencyKind::Police
                        } else {
                            AgencyKind::LawEnforcement
                        },
                        contact_role: "值班".into(),
                        categories: categories(act.a),
                    }),
                ),
                2 => OpBody::Agency(
                    agency,
                    AgencyOp::Edit(AgencyEdit {
                        name: act
                            .a
                            .is_multiple_of(3)
                            .then(|| format!("联动单位{}（新）", act.b)),
                        kind: (!act.a.is_multiple_of(3)).then_some(AgencyKind::Firm),
                        contact_role: None,
                        categories: act.a.is_multiple_of(5).then(|| categories(act.b)),
                    }),
                ),
                3 | 4 => OpBody::Decision(
                    decision,
                    DecisionOp::Record(DecisionRecord {
                        date: "2026-11-27".into(),
                        council: if act.a.is_multiple_of(8) {
                            Council::DeliberationClinic
                        } else {
                            Council::ResidentsCouncil
                        },
                        council_name: "1号楼居民议事会".into(),
                        text: format!("决议{}", act.b),
                    }),
                ),
                _ => OpBody::Decision(
                    decision,
                    DecisionOp::Edit(DecisionEdit {
                        date: act.a.is_multiple_of(3).then(|| "2026-11-28".into()),
                        council_name: None,
                        text: Some(format!("决议修订{}", act.b)),
                    }),
                ),
            };
            vec![w.op(now, body)]
        }
        17 => {
            let route = cast.routes[usize::from(act.b) % 3];
            let to = match act.a % 4 {
                0 => None,
                1 => Some(Handler::User(cast.worker_a)),
                _ => Some(Handler::Agency(cast.agencies[usize::from(act.a) % 2])),
            };
            vec![
                w.op(
                    now,
                    OpBody::Route(
                        route,
                        RouteOp::Set(RouteSet {
                            category: if act.b.is_multiple_of(2) {
                                "dispute"
                            } else {
                                "water_leak"
                            }
                            .into(),
                            grid: (!act.a.is_multiple_of(3)).then_some(grid),
                            to,
                        }),
                    ),
                ),
            ]
        }
        18 => {
            // Dispatch steps on a ticket: the body accepting or completing is the ticket's current one as this
            // replica sees it, so a reassignment elsewhere makes them concurrent.
            let Some(t) = ticket else { return Vec::new() };
            let public = act.b % 2 == 1;
            let current = sim.state.ticket(&t).and_then(|t| t.agency());
            let step = |agency| AgencyStep {
                agency,
                note: Some(
                    if public {
                        "已派单"
                    } else {
                        "内部：派单"
                    }
                    .into(),
                ),
                public,
            };
            // The second body and decision once this replica knows them, else the first.
            let agency = cast.agencies[usize::from(act.b) % 2];
            let agency = if sim.state.agency(&agency).is_some_and(|a| a.exists()) {
                agency
            } else {
                cast.agencies[0]
            };
            let decision = cast.decisions[usize::from(act.b) % 2];
            let decision = if sim.state.decision(&decision).is_some_and(|d| d.exists()) {
                decision
            } else {
                cast.decisions[0]
            };
            let op = match act.a % 5 {
                0 | 1 => TicketOp::Dispatch(step(agency)),
                2 => TicketOp::AgencyAccept(step(current.unwrap_or(agency))),
                3 => TicketOp::AgencyComplete(step(current.unwrap_or(agency))),
                _ => TicketOp::Decide { decision },
            };
            vec![w.op(now, OpBody::Ticket(t, op))]
        }
        _ => {
            let observed = sim
                .state
                .grid(&grid)
                .map(|g| g.visits.live_tags(&(household, cast.butler)))
                .unwrap_or_default();
            let op = if observed.is_empty() {
                GridOp::AssignVisit {
                    household,
                    butler: cast.butler,
                }
            } else {
                GridOp::UnassignVisit {
                    household,
                    butler: cast.butler,
                    observed,
                }
            };
            vec![w.op(now, OpBody::Grid(grid, op))]
        }
    };
    // Record only what the local view accepts, all or nothing (one local transaction).
    let mut scratch = sim.state.clone();
    for op in &ops {
        let ok = authorize_local(&scratch, sim.writer.replica, author, sim.role, op).is_ok()
            && scratch.validate_local(op).is_ok();
        if !ok {
            return Vec::new();
        }
        scratch.apply(op);
    }
    sim.state = scratch;
    ops
}

/// Strategy: a delivery schedule of `len` ops: a permutation with duplicates, where some ops are first
/// dropped and delivered again at the end (a lost response repaired by a retry).
pub fn delivery(len: usize) -> impl Strategy<Value = Vec<usize>> {
    let order = Just((0..len).collect::<Vec<_>>()).prop_shuffle();
    let dups = prop::collection::vec(any::<prop::sample::Index>(), 0..=len / 3 + 1);
    let drops = prop::collection::vec(any::<prop::sample::Index>(), 0..=len / 4 + 1);
    (order, dups, drops).prop_map(move |(mut order, dups, drops)| {
        if len == 0 {
            return order;
        }
        let dropped: Vec<usize> = drops.iter().map(|i| order[i.index(order.len())]).collect();
        order.retain(|o| !dropped.contains(o));
        for d in &dups {
            let at = d.index(order.len() + 1);
            order.insert(at, d.index(len));
        }
        order.extend(dropped);
        order
    })
}

/// One example op of every kind, with fixed ids and times: the golden wire files and the examples in
/// `docs/protocol.md` are these.
pub fn wire_examples() -> Vec<Op> {
    let cast = Cast::default();
    let grid = cast.grids[0];
    let household = cast.households[0][0];
    let ticket = TicketId(id(0x7100));
    let entry = EntryId(id(0x7200));
    let activity = EntryId(id(0x7201));
    let mut n = 0u128;
    let mut op = |author: UserId, replica: ReplicaId, minute: u64, body: OpBody| {
        n += 1;
        Op {
            id: crate::ids::OpId(Uuid::from_u128(
                0x019a_c4e1_0000_7000_8000_0000_0000_0000 | n,
            )),
            replica,
            author,
            time: crate::hlc::Hlc {
                wall_ms: T0 + minute * 60_000,
                logical: 0,
            },
            body,
            unknown: Default::default(),
        }
    };
    let phone = ReplicaId(id(201));
    let butler_phone = ReplicaId(id(202));
    let office = ReplicaId(id(203));
    let w = cast.worker_a;
    let note = |s: &str| Note {
        note: Some(s.into()),
        public: false,
    };
    let t = |op| OpBody::Ticket(ticket, op);
    let g = |op| OpBody::Grid(grid, op);
    let mut all = vec![
        op(
            w,
            phone,
            0,
            t(TicketOp::Create(TicketCreate {
                grid,
                request_type: RequestType::Complaint,
                category: "water_leak".into(),
                complexity: Complexity::Small,
                location: Location {
                    building: "3".into(),
                    unit: Some("2".into()),
                    household: Some(household),
                    lat: Some(39.9042),
                    lon: Some(116.4074),
                },
                description: "3号楼2单元楼道漏水".into(),
                channel: Channel::GroupChat,
                reporter: Reporter {
                    name: Some("王阿姨".into()),
                    phone: Some("13800000000".into()),
                    household: Some(household),
                },
                from_visit: None,
            })),
        ),
        op(
            w,
            phone,
            1,
            t(TicketOp::Edit(TicketEdit {
                category: Some("pipe_burst".into()),
                description: None,
                complexity: Some(Complexity::Complex),
            })),
        ),
        op(w, phone, 1, t(TicketOp::Assign { user: w })),
        op(
            w,
            phone,
            2,
            t(TicketOp::Unassign {
                user: w,
                observed: vec![crate::ids::OpId(Uuid::from_u128(
                    0x019a_c4e1_0000_7000_8000_0000_0000_0003,
                ))],
            }),
        ),
        op(
            w,
            phone,
            2,
            t(TicketOp::Comment {
                text: "已联系物业维修".into(),
                public: false,
            }),
        ),
        op(w, phone, 3, t(TicketOp::Take(Note::default()))),
        op(w, phone, 7, t(TicketOp::Arrive(note("到场")))),
        op(w, phone, 25, t(TicketOp::Solve(Note::default()))),
        op(
            w,
            phone,
            60,
            t(TicketOp::Plan(note("更换立管，需业委会议事"))),
        ),
        op(w, phone, 120, t(TicketOp::Answer(note("已电话答复居民")))),
        op(
            w,
            phone,
            130,
            t(TicketOp::Rate(Rating {
                satisfaction: 5,
                note: Some("满意".into()),
            })),
        ),
        op(w, phone, 140, t(TicketOp::Reopen(note("又漏了")))),
        op(w, phone, 141, t(TicketOp::SendBack(note("不属于本网格")))),
        op(w, phone, 150, t(TicketOp::Close(Note::default()))),
        op(
            cast.admin,
            ReplicaId::SERVER,
            0,
            g(GridOp::Create {
                name: "第一网格".into(),
                community: "幸福里社区".into(),
            }),
        ),
        op(
            cast.admin,
            ReplicaId::SERVER,
            0,
            g(GridOp::Rename {
                name: "一网格".into(),
            }),
        ),
        op(
            w,
            phone,
            0,
            g(GridOp::AddHousehold {
                household,
                details: Household {
                    building: "3".into(),
                    unit: "2".into(),
                    room: "301".into(),
                    elderly_alone: true,
                    contact_name: Some("李大爷".into()),
                },
            }),
        ),
        op(
            w,
            phone,
            0,
            g(GridOp::RemoveHousehold {
                household,
                observed: vec![crate::ids::OpId(Uuid::from_u128(
                    0x019a_c4e1_0000_7000_8000_0000_0000_0011,
                ))],
            }),
        ),
        op(
            cast.admin,
            ReplicaId::SERVER,
            0,
            g(GridOp::AddMember {
                user: cast.butler,
                role: MemberRole::Butler,
            }),
        ),
        op(
            cast.admin,
            ReplicaId::SERVER,
            0,
            g(GridOp::RemoveMember {
                user: cast.butler,
                role: MemberRole::Butler,
                observed: vec![crate::ids::OpId(Uuid::from_u128(
                    0x019a_c4e1_0000_7000_8000_0000_0000_0013,
                ))],
            }),
        ),
        op(
            w,
            phone,
            0,
            g(GridOp::AssignVisit {
                household,
                butler: cast.butler,
            }),
        ),
        op(
            w,
            phone,
            0,
            g(GridOp::UnassignVisit {
                household,
                butler: cast.butler,
                observed: vec![crate::ids::OpId(Uuid::from_u128(
                    0x019a_c4e1_0000_7000_8000_0000_0000_0015,
                ))],
            }),
        ),
        op(
            cast.butler,
            butler_phone,
            30,
            OpBody::Entry(
                entry,
                EntryOp::Visit(Visit {
                    volunteer: cast.butler,
                    grid,
                    household,
                    seen: true,
                    health: Some(HealthFlag::Unwell),
                    needs: vec![Need::Groceries, Need::Medicine],
                    notes: "说头晕，已通知网格员".into(),
                    follow_up: Some(TicketId(id(0x7101))),
                }),
            ),
        ),
        op(
            cast.butler,
            butler_phone,
            90,
            OpBody::Entry(
                activity,
                EntryOp::Activity(Activity {
                    volunteer: cast.butler,
                    grid,
                    activity: "patrol".into(),
                    start_ms: T0,
                    end_ms: T0 + 90 * 60_000,
                    notes: "夜间巡逻".into(),
                }),
            ),
        ),
        op(
            w,
            phone,
            100,
            OpBody::Entry(activity, EntryOp::Approve(Reason::default())),
        ),
        op(
            w,
            phone,
            100,
            OpBody::Entry(
                activity,
                EntryOp::Reject(Reason {
                    reason: Some("时间重复".into()),
                }),
            ),
        ),
        op(
            cast.butler,
            butler_phone,
            100,
            OpBody::Entry(
                activity,
                EntryOp::Void(Reason {
                    reason: Some("记错了".into()),
                }),
            ),
        ),
        op(
            w,
            phone,
            100,
            OpBody::Card(
                cast.butler,
                CardOp::Credit {
                    entry: activity,
                    approval: crate::ids::OpId(Uuid::from_u128(
                        0x019a_c4e1_0000_7000_8000_0000_0000_0019,
                    )),
                    minutes: 90,
                    points: Points(15),
                },
            ),
        ),
        op(
            cast.admin,
            ReplicaId::SERVER,
            110,
            OpBody::Card(
                cast.butler,
                CardOp::Transfer {
                    to: office,
                    points: Points(15),
                    seq: 1,
                },
            ),
        ),
        op(
            cast.office,
            office,
            120,
            OpBody::Card(
                cast.butler,
                CardOp::Redeem {
                    points: Points(10),
                    seq: 1,
                    purpose: Purpose::FeeOffset {
                        household,
                        period: "2026-11".into(),
                    },
                },
            ),
        ),
    ];
    // The kinds added later take the next op ids, so the older examples keep their bytes; each goes where its
    // kind is in the documentation order.
    let ticket_steps = vec![
        op(
            w,
            phone,
            160,
            t(TicketOp::Dispatch(AgencyStep {
                agency: cast.agencies[0],
                note: Some("占道经营，转执法队".into()),
                public: true,
            })),
        ),
        op(
            w,
            phone,
            170,
            t(TicketOp::AgencyAccept(AgencyStep {
                agency: cast.agencies[0],
                note: None,
                public: false,
            })),
        ),
        op(
            w,
            phone,
            240,
            t(TicketOp::AgencyComplete(AgencyStep {
                agency: cast.agencies[0],
                note: Some("已清理".into()),
                public: true,
            })),
        ),
        op(
            w,
            phone,
            250,
            t(TicketOp::Decide {
                decision: cast.decisions[0],
            }),
        ),
    ];
    let community = vec![
        op(
            cast.admin,
            ReplicaId::SERVER,
            0,
            OpBody::Agency(
                cast.agencies[0],
                AgencyOp::Create(AgencyCreate {
                    name: "综合行政执法局".into(),
                    kind: AgencyKind::LawEnforcement,
                    contact_role: "执法队值班".into(),
                    categories: vec!["street_vending".into(), "illegal_construction".into()],
                }),
            ),
        ),
        op(
            cast.admin,
            ReplicaId::SERVER,
            1,
            OpBody::Agency(
                cast.agencies[0],
                AgencyOp::Edit(AgencyEdit {
                    name: None,
                    kind: None,
                    contact_role: Some("城东中队值班".into()),
                    categories: None,
                }),
            ),
        ),
        op(
            w,
            phone,
            200,
            OpBody::Decision(
                cast.decisions[0],
                DecisionOp::Record(DecisionRecord {
                    date: "2026-11-27".into(),
                    council: Council::ResidentsCouncil,
                    council_name: "3号楼居民议事会".into(),
                    text: "更换3号楼立管，费用由维修基金列支".into(),
                }),
            ),
        ),
        op(
            w,
            phone,
            210,
            OpBody::Decision(
                cast.decisions[0],
                DecisionOp::Edit(DecisionEdit {
                    date: None,
                    council_name: None,
                    text: Some("更换3号楼2单元立管，费用由维修基金列支".into()),
                }),
            ),
        ),
        op(
            cast.admin,
            ReplicaId::SERVER,
            2,
            OpBody::Route(
                cast.routes[0],
                RouteOp::Set(RouteSet {
                    category: "street_vending".into(),
                    grid: Some(grid),
                    to: Some(Handler::Agency(cast.agencies[0])),
                }),
            ),
        ),
    ];
    let after_close = all
        .iter()
        .position(|o| o.kind() == crate::op::OpKind::TicketClose)
        .map_or(all.len(), |i| i + 1);
    all.splice(after_close..after_close, ticket_steps);
    all.extend(community);
    all
}

/// A year (or `days` days) of a 10-building community, for benchmarks: 7 grid cells with a grid worker and a
/// micro-butler each, 500 households all visited every day, 5,000 tickets spread over the period with full
/// lifecycles (every fifth complex), and 2,000 volunteer activities of 90 minutes, two thirds approved and credited.
/// Deterministic; ops in the order they were written.
pub fn community_year(year0_ms: u64, days: u64) -> Vec<Op> {
    community_year_of(0, year0_ms, days)
}

/// [`community_year`] of the `community`-th of several communities (below 160): the same shape, with ids (entities,
/// users, replicas, op ids) that no other community's share, so several can be held in one log. Community 0 is
/// exactly [`community_year`]; the others' grid cells are named after their number.
pub fn community_year_of(community: u16, year0_ms: u64, days: u64) -> Vec<Op> {
    const MIN: u64 = 60_000;
    const DAY: u64 = 24 * 60 * MIN;
    assert!(
        community < 160,
        "writer salts are 400 per community in 16 bits"
    );
    let base = 0x4ea2_0000_0000_0000_0000_0000_0000_0000 | (u128::from(community) << 64);
    let id = move |n: u128| Uuid::from_u128(base | n);
    // The salts of one community's writers are 1, 200..=206 and 300..=306.
    let salt = |n: u16| n + community * 400;
    let writer = |n: u128| {
        Writer::deterministic(
            ReplicaId(id(n)),
            UserId(id(n)),
            HlcClock::new(DriftPolicy::DEFAULT),
            salt(n as u16),
        )
    };
    let community_name = if community == 0 {
        "幸福里".to_string()
    } else {
        format!("幸福里{}", community + 1)
    };
    let mut state = State::new(Rules::DEFAULT);
    let mut ops: Vec<Op> = Vec::new();
    let mut put = |state: &mut State, op: Op| {
        state.apply(&op);
        ops.push(op);
    };
    let mut admin = Writer::deterministic(
        ReplicaId::SERVER,
        UserId(id(1)),
        HlcClock::new(DriftPolicy::DEFAULT),
        salt(1),
    );
    let grids: Vec<GridId> = (0..7).map(|g| GridId(id(100 + g))).collect();
    let mut workers: Vec<Writer> = (0..7).map(|w| writer(200 + w)).collect();
    let mut butlers: Vec<Writer> = (0..7).map(|b| writer(300 + b)).collect();
    let households: Vec<(GridId, HouseholdId)> = (0..500u128)
        .map(|h| (grids[(h % 7) as usize], HouseholdId(id(1_000 + h))))
        .collect();
    for (g, grid) in grids.iter().enumerate() {
        put(
            &mut state,
            admin.op(
                year0_ms,
                OpBody::Grid(
                    *grid,
                    GridOp::Create {
                        name: format!("第{}网格", g + 1),
                        community: community_name.clone(),
                    },
                ),
            ),
        );
        put(
            &mut state,
            admin.op(
                year0_ms,
                OpBody::Grid(
                    *grid,
                    GridOp::AddMember {
                        user: workers[g].author,
                        role: MemberRole::Worker,
                    },
                ),
            ),
        );
        put(
            &mut state,
            admin.op(
                year0_ms,
                OpBody::Grid(
                    *grid,
                    GridOp::AddMember {
                        user: butlers[g].author,
                        role: MemberRole::Butler,
                    },
                ),
            ),
        );
    }
    for (i, (grid, h)) in households.iter().enumerate() {
        put(
            &mut state,
            admin.op(
                year0_ms,
                OpBody::Grid(
                    *grid,
                    GridOp::AddHousehold {
                        household: *h,
                        details: Household {
                            building: format!("{}", i % 10 + 1),
                            unit: format!("{}", i % 4 + 1),
                            room: format!("{}", 100 + i),
                            elderly_alone: true,
                            contact_name: None,
                        },
                    },
                ),
            ),
        );
    }
    let mut n = 0u128;
    for day in 0..days {
        for (i, (grid, h)) in households.iter().enumerate() {
            let b = &mut butlers[i % 7];
            n += 1;
            let op = b.op(
                year0_ms + day * DAY + 8 * 60 * MIN + i as u64 * 1000,
                OpBody::Entry(
                    EntryId(id(10_000_000 + n)),
                    EntryOp::Visit(Visit {
                        volunteer: b.author,
                        grid: *grid,
                        household: *h,
                        seen: !n.is_multiple_of(9),
                        health: None,
                        needs: vec![],
                        notes: String::new(),
                        follow_up: None,
                    }),
                ),
            );
            put(&mut state, op);
        }
    }
    for t in 0..5_000u64 {
        let g = (t % 7) as usize;
        let w = &mut workers[g];
        let at = year0_ms + t * (days * DAY / 5_000);
        let ticket = TicketId(id(20_000_000 + u128::from(t)));
        let complexity = if t % 5 == 0 {
            Complexity::Complex
        } else {
            Complexity::Small
        };
        let ev = |w: &mut Writer, dt: u64, op: TicketOp| w.op(at + dt, OpBody::Ticket(ticket, op));
        let steps = vec![
            ev(
                w,
                0,
                TicketOp::Create(TicketCreate {
                    grid: grids[g],
                    request_type: RequestType::Complaint,
                    category: ["noise", "water_leak", "dispute", "parking"][(t % 4) as usize]
                        .into(),
                    complexity,
                    location: Location {
                        building: "1".into(),
                        ..Location::default()
                    },
                    description: "问题".into(),
                    channel: Channel::Desk,
                    reporter: Reporter::default(),
                    from_visit: None,
                }),
            ),
            ev(w, (t % 20) * MIN, TicketOp::Take(Note::default())),
            ev(
                w,
                (t % 20) * MIN + (t % 9) * MIN,
                TicketOp::Arrive(Note::default()),
            ),
            ev(w, 40 * MIN, TicketOp::Solve(Note::default())),
            ev(
                w,
                50 * MIN,
                TicketOp::Answer(Note {
                    note: Some("已答复".into()),
                    public: false,
                }),
            ),
            ev(
                w,
                60 * MIN,
                TicketOp::Rate(Rating {
                    satisfaction: (t % 5) as u8 + 1,
                    note: None,
                }),
            ),
        ];
        for op in steps {
            put(&mut state, op);
        }
    }
    for a in 0..2_000u64 {
        let b = (a % 7) as usize;
        let entry = EntryId(id(30_000_000 + u128::from(a)));
        let start = year0_ms + a * 4 * 60 * MIN;
        let volunteer = butlers[b].author;
        let op = butlers[b].op(
            start + 120 * MIN,
            OpBody::Entry(
                entry,
                EntryOp::Activity(Activity {
                    volunteer,
                    grid: grids[b],
                    activity: "patrol".into(),
                    start_ms: start,
                    end_ms: start + 90 * MIN,
                    notes: String::new(),
                }),
            ),
        );
        put(&mut state, op);
        if a % 3 != 0 {
            for op in workers[b]
                .approve(&state, start + 200 * MIN, entry, None)
                .expect("approvable")
            {
                put(&mut state, op);
            }
        }
    }
    ops
}
