//! Offline days with a server in the middle (issue 17): phones with their own clock skews write against their own
//! views, queue what they wrote, and sync now and then — push in order, then pull — through a server that judges
//! every pushed op as the real one does (`authorize`, then `validate_op`, on its merged state at receipt), while
//! admins and grid workers remove and re-add households and members. Used by `tests/offline_removals.rs` to check
//! that nothing written within the rights of its time is refused, that refusals trace back to a removal the
//! writer had not seen, and that every replica converges.
//!
//! The server's drift check is modelled too: an op stamped beyond the bound ahead of the server's clock is held in
//! its phone's queue (the ops after it with it, as they are stamped later still) while the pull runs, and goes on
//! a later sync once the server's time has caught up.

use proptest::prelude::*;

use super::{Action, Cast, T0, action, attempt, id, local, setup};
use crate::grid::{GridOp, Household, MemberRole};
use crate::hlc::{DriftPolicy, HlcClock};
use crate::ids::{GridId, OpId, ReplicaId};
use crate::op::{Op, OpBody};
use crate::rights::{Role, authorize, authorize_local};
use crate::state::{Rules, State};
use crate::writer::Writer;

/// One op a phone wrote.
#[derive(Clone, Debug)]
pub struct Written {
    /// Index of its writer in [`OfflineDay::roles`].
    pub replica: usize,
    /// The op.
    pub op: Op,
    /// The grid cell its data belonged to in its writer's view when written (`State::grid_of`).
    pub grid: Option<GridId>,
    /// How many ops of the server's log its writer had heard when it wrote it.
    pub heard: usize,
}

/// The outcome of one simulated offline day.
#[derive(Clone, Debug)]
pub struct OfflineDay {
    /// The cast.
    pub cast: Cast,
    /// Each replica's role; replica 0 is the server (the admin's writes are its own).
    pub roles: Vec<Role>,
    /// Each replica's physical clock offset from true time, ms.
    pub skews: Vec<i64>,
    /// Every op a phone (replica 1 and up) wrote, in the order written.
    pub written: Vec<Written>,
    /// The server's log in acceptance order: set-up ops, the server's own writes, accepted pushes.
    pub log: Vec<Op>,
    /// Pushed ops the server refused, with the error it gave.
    pub refused: Vec<(OpId, String)>,
    /// Each phone's state after the last sync (index 0 is the server's).
    pub states: Vec<State>,
}

/// Strategy: a physical clock skew, mostly within the drift bound, sometimes hours off either way.
pub fn skew() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => -600i64..=600,
        1 => -10_800i64..=7_200,
    ]
    .prop_map(|s| s * 1000)
}

/// Strategy: an offline day of up to `max_actions` actions among the five replicas of [`Cast`], with random skews
/// for the four phones and removals among the actions.
pub fn offline_day(max_actions: usize) -> impl Strategy<Value = OfflineDay> {
    (
        prop::collection::vec(skew(), 4),
        prop::collection::vec((action(), 0u8..8), 0..max_actions),
    )
        .prop_map(|(skews, actions)| {
            // One action in four is a removal or a re-add (choice 16 and up).
            let actions: Vec<Action> = actions
                .into_iter()
                .map(|(mut a, r)| {
                    if r < 2 {
                        a.choice = 16 + r;
                    }
                    a
                })
                .collect();
            OfflineDay::simulate(&skews, &actions)
        })
}

struct Phone {
    writer: Writer,
    role: Role,
    skew_ms: i64,
    heard: usize,
    queue: Vec<Op>,
    state: State,
}

impl OfflineDay {
    /// Plays `actions`. `skews` are the phones' clock offsets (replicas 1 to 4; missing ones are 0); each is moved
    /// by its replica's index in milliseconds so that no two phones read the same time (ids are drawn from times).
    pub fn simulate(skews: &[i64], actions: &[Action]) -> OfflineDay {
        let cast = Cast::default();
        let rules = Rules::DEFAULT;
        let people = [
            (ReplicaId::SERVER, cast.admin, Role::Admin),
            (ReplicaId(id(201)), cast.worker_a, Role::GridWorker),
            (ReplicaId(id(202)), cast.butler, Role::Volunteer),
            (ReplicaId(id(203)), cast.office, Role::Admin),
            (ReplicaId(id(204)), cast.worker_b, Role::GridWorker),
        ];
        let mut phones: Vec<Phone> = people
            .iter()
            .enumerate()
            .map(|(i, (replica, user, role))| Phone {
                writer: Writer::deterministic(
                    *replica,
                    *user,
                    HlcClock::new(rules.drift),
                    i as u16 + 1,
                ),
                role: *role,
                skew_ms: match i {
                    0 => 0,
                    _ => skews.get(i - 1).copied().unwrap_or(0) + i as i64,
                },
                heard: 0,
                queue: Vec::new(),
                state: State::new(rules),
            })
            .collect();
        let mut server = State::new(rules);
        let mut log = setup(&cast, &mut phones[0].writer);
        for op in &log {
            server.apply(op);
        }
        for p in &mut phones {
            p.state = server.clone();
            p.heard = log.len();
        }
        let mut day = OfflineDay {
            cast: cast.clone(),
            roles: phones.iter().map(|p| p.role).collect(),
            skews: phones.iter().map(|p| p.skew_ms).collect(),
            written: Vec::new(),
            log: Vec::new(),
            refused: Vec::new(),
            states: Vec::new(),
        };
        let mut now = T0 + 60_000;
        for act in actions {
            now += u64::from(act.advance_s) * 1000;
            let r = usize::from(act.replica) % phones.len();
            if r == 0 {
                // The server writes against its own state, and its clock follows what it accepted.
                let p = &mut phones[0];
                p.state = server.clone();
                for op in attempt_with_removals(p, &cast, act, now) {
                    server.apply(&op);
                    log.push(op);
                }
                continue;
            }
            if act.sync {
                sync(&mut phones, r, &mut server, &mut log, &mut day.refused, now);
            }
            let p = &mut phones[r];
            let before = p.state.clone();
            let ops = attempt_with_removals(p, &cast, act, local(now, p.skew_ms));
            for op in ops {
                day.written.push(Written {
                    replica: r,
                    grid: before.grid_of(&op),
                    op: op.clone(),
                    heard: p.heard,
                });
                p.queue.push(op);
            }
        }
        // The end of the day: time passes beyond every skew (held ops may go), then everybody syncs twice (the
        // second round brings each phone what the others pushed in the first).
        now += 4 * 60 * 60 * 1000;
        for _ in 0..2 {
            for r in 1..phones.len() {
                sync(&mut phones, r, &mut server, &mut log, &mut day.refused, now);
            }
        }
        day.states = phones
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if i == 0 {
                    server.clone()
                } else {
                    p.state.clone()
                }
            })
            .collect();
        day.log = log;
        day
    }
}

/// One round trip of phone `r` at true time `now`: push its queue in order (holding what the server's drift check
/// would refuse), then pull the server's log.
fn sync(
    phones: &mut [Phone],
    r: usize,
    server: &mut State,
    log: &mut Vec<Op>,
    refused: &mut Vec<(OpId, String)>,
    now: u64,
) {
    let drift: DriftPolicy = server.rules().drift;
    let (head, tail) = phones.split_at_mut(r);
    let server_clock = &mut head[0].writer.clock;
    let p = &mut tail[0];
    let mut held = Vec::new();
    for op in std::mem::take(&mut p.queue) {
        if !held.is_empty() || drift.check(op.time, now).is_err() {
            held.push(op);
            continue;
        }
        let verdict = authorize(server, p.writer.replica, p.writer.author, p.role, &op)
            .map_err(|e| format!("{e:?}"))
            .and_then(|()| server.validate_op(&op).map_err(|e| format!("{e:?}")));
        match verdict {
            Ok(()) => {
                server.apply(&op);
                server_clock.observe_accepted(op.time);
                log.push(op);
            }
            Err(e) => refused.push((op.id, e)),
        }
    }
    for op in &log[p.heard..] {
        p.writer.clock.observe_accepted(op.time);
    }
    p.heard = log.len();
    // The phone's view: everything the server holds, then what it still holds back (its refused ops set aside).
    let mut state = server.clone();
    for op in &held {
        state.apply(op);
    }
    p.state = state;
    p.queue = held;
}

/// [`attempt`], plus choices 16 (remove a household, or add it back) and 17 (remove a grid worker or the
/// micro-butler from a cell, or add them back), checked against the writer's view like every other write.
fn attempt_with_removals(p: &mut Phone, cast: &Cast, act: &Action, now: u64) -> Vec<Op> {
    let g = usize::from(act.a) % 2;
    let grid = cast.grids[g];
    let body = match act.choice {
        16 => {
            let household = cast.households[g][usize::from(act.b) % 3];
            let observed = p
                .state
                .grid(&grid)
                .map(|x| x.households.live_tags(&household))
                .unwrap_or_default();
            if observed.is_empty() {
                GridOp::AddHousehold {
                    household,
                    details: Household {
                        building: format!("{}", g + 1),
                        unit: "1".into(),
                        room: "101".into(),
                        elderly_alone: true,
                        contact_name: None,
                    },
                }
            } else {
                GridOp::RemoveHousehold {
                    household,
                    observed,
                }
            }
        }
        17 => {
            let (user, role) = match (act.b % 2, g) {
                (0, _) => (cast.butler, MemberRole::Butler),
                (_, 0) => (cast.worker_a, MemberRole::Worker),
                _ => (cast.worker_b, MemberRole::Worker),
            };
            let observed = p
                .state
                .grid(&grid)
                .map(|x| x.members(role).live_tags(&user))
                .unwrap_or_default();
            if observed.is_empty() {
                GridOp::AddMember { user, role }
            } else {
                GridOp::RemoveMember {
                    user,
                    role,
                    observed,
                }
            }
        }
        _ => {
            let mut sim = super::SimReplica {
                writer: p.writer.clone(),
                role: p.role,
                state: std::mem::take(&mut p.state),
                heard: 0,
                skew_ms: p.skew_ms,
            };
            let ops = attempt(&mut sim, cast, act, now);
            p.writer = sim.writer;
            p.state = sim.state;
            return ops;
        }
    };
    let op = p.writer.op(now, OpBody::Grid(grid, body));
    let ok = authorize_local(&p.state, p.writer.replica, p.writer.author, p.role, &op).is_ok()
        && p.state.validate_local(&op).is_ok();
    if !ok {
        return Vec::new();
    }
    p.state.apply(&op);
    vec![op]
}
