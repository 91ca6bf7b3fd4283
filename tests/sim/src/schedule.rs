//! Random schedules of a field day, a pure function of a seed: offline visits, hours and approvals, tickets,
//! grants and redemptions, and syncs — optionally with faults (the server SIGKILLed mid-sync and restarted,
//! answers cut by the proxy after the commit, answers applied twice or out of order). The model counts what was
//! done; the checks of [`crate::model`] then compare.

use linli_ffi::store::TicketStep;
use linli_sync_core::prelude::TicketId;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::http::Answer;
use crate::model::Model;
use crate::phone::SyncError;
use crate::proxy::CutProxy;
use crate::rng::Rng;
use crate::script;
use crate::world::World;

/// What a schedule may do.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Actions to take.
    pub steps: usize,
    /// Inject faults into syncs.
    pub faults: bool,
}

/// What happened, for the soak's summary.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Actions taken.
    pub actions: usize,
    /// Syncs attempted.
    pub syncs: usize,
    /// Server SIGKILLs.
    pub kills: usize,
    /// Answers cut after the commit.
    pub cuts: usize,
    /// Answers applied twice.
    pub duplicates: usize,
    /// Answers applied out of order.
    pub reorders: usize,
}

#[derive(Debug, Clone)]
struct Pending {
    entry: String,
    volunteer: usize,
    cell: usize,
    minutes: u64,
}

/// Plays a random day on `world` from `seed`, counting it in `model`.
pub fn play(world: &mut World, model: &mut Model, seed: u64, plan: Plan) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let proxy = plan.faults.then(|| CutProxy::start(&world.server.base));
    // Activities waiting for approval; tickets with the worker handling them and their next step.
    let mut pending: Vec<Pending> = Vec::new();
    let mut tickets: BTreeMap<TicketId, (usize, usize)> = BTreeMap::new();
    // Answers held back to be applied later (out of order), per phone.
    let mut held: BTreeMap<usize, Answer> = BTreeMap::new();
    for _ in 0..plan.steps {
        tally.actions += 1;
        let cell = rng.below(world.cells.len());
        let c = world.cells[cell].clone();
        match rng.below(10) {
            0..=2 if !c.butlers.is_empty() => {
                let butler = *rng.pick(&c.butlers);
                let household = rng.below(c.households.len());
                let unwell = rng.chance(10);
                script::visit(world, model, butler, cell, household, unwell);
            }
            3 if !c.butlers.is_empty() => {
                let volunteer = *rng.pick(&c.butlers);
                let minutes = 15 + rng.below(12) as u64 * 15;
                let entry = script::activity(world, model, volunteer, cell, minutes);
                pending.push(Pending {
                    entry,
                    volunteer,
                    cell,
                    minutes,
                });
            }
            4 if !pending.is_empty() => {
                // A worker of the entry's cell approves it, if their replica has it already.
                let i = rng.below(pending.len());
                let p = pending[i].clone();
                let worker = *rng.pick(&world.cells[p.cell].workers);
                let holds = world.phones[worker]
                    .store
                    .pending_entries()
                    .is_ok_and(|es| es.iter().any(|e| e.entry_id == p.entry));
                if holds {
                    script::approve(world, model, worker, &p.entry, p.volunteer, p.minutes);
                    pending.swap_remove(i);
                }
            }
            5 => {
                let worker = *rng.pick(&c.workers);
                let t = script::ticket(world, model, worker, cell, rng.chance(30));
                tickets.insert(t, (worker, 0));
            }
            6 if !tickets.is_empty() => {
                let keys: Vec<TicketId> = tickets.keys().copied().collect();
                let t = *rng.pick(&keys);
                let (worker, next) = tickets[&t];
                let step = match next {
                    0 => TicketStep::Take(None),
                    1 => TicketStep::Arrive(None),
                    2 => TicketStep::Solve(Some("已处理".into())),
                    _ => TicketStep::Answer("已答复居民".into()),
                };
                script::step(world, model, worker, t, step, 0);
                if next >= 3 {
                    tickets.remove(&t);
                } else {
                    tickets.insert(t, (worker, next + 1));
                }
            }
            7 => {
                // The property office redeems within the rights it holds, or asks for a grant.
                let volunteer = *rng.pick(&world.cells[cell].butlers);
                let user = world.user(volunteer).to_string();
                let office = world.office;
                let rights = world.phones[office]
                    .store
                    .card(&user)
                    .map_or(0, |c| c.rights_here);
                if rights > 0 {
                    let points = 1 + rng.below(usize::try_from(rights).unwrap_or(1)) as u64;
                    script::redeem(world, model, office, volunteer, cell, points)
                        .unwrap_or_else(|e| panic!("a redemption within rights was refused: {e}"));
                } else {
                    let device = world.phones[office].id.device;
                    let answer = world.console.grant(world.user(volunteer), device, 5);
                    assert!(
                        matches!(answer.status, 201 | 404 | 422),
                        "grant: {}",
                        String::from_utf8_lossy(&answer.body)
                    );
                }
            }
            _ => {
                let phone = rng.below(world.phones.len());
                tally.syncs += 1;
                sync_with_faults(
                    world,
                    phone,
                    &mut rng,
                    proxy.as_ref(),
                    &mut held,
                    &mut tally,
                );
            }
        }
    }
    // Late answers still held are delivered now, after everything else: out of order by construction.
    for (phone, answer) in std::mem::take(&mut held) {
        let _ = world.phones[phone].apply(&answer);
        tally.reorders += 1;
    }
    for p in &mut world.phones {
        p.base = world.server.base.clone();
    }
    if let Some(proxy) = &proxy {
        tally.cuts = proxy.cuts();
    }
    tally
}

fn sync_with_faults(
    world: &mut World,
    phone: usize,
    rng: &mut Rng,
    proxy: Option<&CutProxy>,
    held: &mut BTreeMap<usize, Answer>,
    tally: &mut Tally,
) {
    let Some(proxy) = proxy else {
        let _ = world.phones[phone]
            .sync_retrying(20)
            .map_err(|e| panic!("sync: {e:?}"));
        return;
    };
    match rng.below(6) {
        0 => {
            // SIGKILL while the phone syncs, then restart; the phone retries.
            let delay = Duration::from_millis(rng.below(15) as u64);
            std::thread::scope(|s| {
                let server = &mut world.server;
                let killer = s.spawn(move || {
                    std::thread::sleep(delay);
                    server.kill();
                });
                let _ = world.phones[phone].sync();
                let _ = killer.join();
            });
            tally.kills += 1;
            world.server.restart();
            must_sync(world, phone);
        }
        1 => {
            // The answer is cut after the commit; the phone retries through the proxy.
            proxy.cut_next(1);
            world.phones[phone].base = proxy.base.clone();
            let _ = world.phones[phone].sync();
            world.phones[phone].base = world.server.base.clone();
            must_sync(world, phone);
        }
        2 => {
            // The same answer delivered twice.
            if let Ok(answer) = world.phones[phone].exchange() {
                let _ = world.phones[phone].apply(&answer);
                let _ = world.phones[phone].apply(&answer);
                tally.duplicates += 1;
            }
        }
        3 => {
            // Hold this answer back; an earlier held one (if any) arrives after a newer exchange.
            if let Ok(answer) = world.phones[phone].exchange()
                && let Some(old) = held.insert(phone, answer)
            {
                let _ = world.phones[phone].apply(&old);
                tally.reorders += 1;
            }
        }
        _ => must_sync(world, phone),
    }
}

fn must_sync(world: &mut World, phone: usize) {
    match world.phones[phone].sync_retrying(100) {
        Ok(()) => {}
        Err(SyncError::Network(e)) => {
            panic!("{}: server unreachable: {e}", world.phones[phone].label)
        }
        Err(e) => panic!("{}: sync refused: {e:?}", world.phones[phone].label),
    }
}
