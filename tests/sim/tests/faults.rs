//! The faults of the field, one test each, through real replicas and a real server process: after each, no op the
//! server acknowledged is lost, none is applied twice, and every replica converges on its scope of the server's
//! merged state, which shows the totals the test's own model expects.

use linli_ffi::store::TicketStep;
use linli_sim::model::{self, Model};
use linli_sim::phone::SyncError;
use linli_sim::proxy::CutProxy;
use linli_sim::script;
use linli_sim::server::ServerConfig;
use linli_sim::world::{Spec, World};
use linli_sync_core::prelude::{Role, Status, Viewer};
use std::time::Duration;

const HOUR: i64 = 3_600_000;

/// Visits by every butler of every cell, `n` each, offline.
fn offline_visits(world: &mut World, m: &mut Model, n: usize) {
    for cell in 0..world.cells.len() {
        let c = world.cells[cell].clone();
        for &b in &c.butlers {
            for i in 0..n {
                script::visit(world, m, b, cell, i % c.households.len(), false);
            }
        }
    }
}

/// Syncs `phone` while another thread SIGKILLs the server after `delay`; then restarts the server.
fn sync_under_kill(world: &mut World, phone: usize, delay: Duration) -> Result<(), SyncError> {
    let result = std::thread::scope(|s| {
        let server = &mut world.server;
        let killer = s.spawn(move || {
            std::thread::sleep(delay);
            server.kill();
        });
        let r = world.phones[phone].sync();
        let _ = killer.join();
        r
    });
    world.server.restart();
    result
}

#[test]
fn sigkill_during_pushes_then_restart_loses_and_doubles_nothing() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    offline_visits(&mut world, &mut m, 40);
    let butlers: Vec<usize> = world.cells.iter().flat_map(|c| c.butlers.clone()).collect();
    let mut interrupted = 0;
    for (i, &b) in butlers.iter().enumerate() {
        // Kills land at different moments: before, during and after the batch's commit.
        if sync_under_kill(&mut world, b, Duration::from_millis(2 * i as u64)).is_err() {
            interrupted += 1;
        }
        world.phones[b]
            .sync_retrying(100)
            .expect("retry after restart");
    }
    assert!(interrupted > 0, "at least one push was cut by the kill");
    model::assert_all(&mut world, &m);
}

#[test]
fn sigkill_during_pulls_then_restart_resumes_from_the_cursor() {
    let spec = Spec {
        server: ServerConfig {
            max_pull_ops: 3,
            ..ServerConfig::default()
        },
        ..Spec::default()
    };
    let mut world = World::build(&spec);
    let mut m = Model::default();
    offline_visits(&mut world, &mut m, 25);
    for b in world
        .cells
        .iter()
        .flat_map(|c| c.butlers.clone())
        .collect::<Vec<_>>()
    {
        world.phones[b].sync().expect("butler pushes");
    }
    // The office (an admin: it sees everything) pulls about 100 ops in pages of 3, and is killed under.
    let office = world.office;
    let mut interrupted = 0;
    for delay in [5, 20, 60] {
        if sync_under_kill(&mut world, office, Duration::from_millis(delay)).is_err() {
            interrupted += 1;
        }
    }
    assert!(interrupted > 0, "at least one pull was cut by the kill");
    world.phones[office]
        .sync_retrying(100)
        .expect("office pulls the rest");
    model::assert_all(&mut world, &m);
}

#[test]
fn an_answer_cut_after_the_commit_is_retried_without_doubling() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    let butler = world.cells[cell].butlers[0];
    for h in 0..3 {
        script::visit(&mut world, &mut m, butler, cell, h, false);
    }
    let entry = script::activity(&mut world, &mut m, butler, cell, 60);
    let proxy = CutProxy::start(&world.server.base);
    proxy.cut_next(1);
    world.phones[butler].base = proxy.base.clone();
    let cut = world.phones[butler].sync();
    assert!(matches!(cut, Err(SyncError::Network(_))), "{cut:?}");
    assert_eq!(proxy.cuts(), 1, "the server had started answering");
    assert_eq!(world.phones[butler].unsynced(), 4, "the phone saw no ack");
    // The server has them all already.
    let stored = {
        let conn = rusqlite::Connection::open_with_flags(
            world.server.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("server db");
        world.phones[butler]
            .local_ops()
            .iter()
            .filter(|(id, _)| {
                conn.query_row(
                    "SELECT count(*) FROM op_log WHERE op_id = unhex(replace(?1, '-', ''))",
                    [id],
                    |r| r.get::<_, i64>(0),
                )
                .expect("count")
                    == 1
            })
            .count()
    };
    assert_eq!(stored, 4, "the cut push was committed");
    // The retry, through the same proxy, is acknowledged and applies nothing twice.
    world.phones[butler].sync().expect("retry");
    assert_eq!(world.phones[butler].unsynced(), 0);
    let worker = world.cells[cell].workers[0];
    world.phones[worker].sync().expect("worker");
    script::approve(&mut world, &mut m, worker, &entry, butler, 60);
    model::assert_all(&mut world, &m);
}

#[test]
fn duplicated_and_reordered_answers_change_nothing() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    let c = world.cells[cell].clone();
    let (b0, b1, worker) = (c.butlers[0], c.butlers[1], c.workers[0]);
    script::visit(&mut world, &mut m, b0, cell, 0, false);
    world.phones[b0].sync().expect("b0");
    script::visit(&mut world, &mut m, b1, cell, 1, true);
    world.phones[b1].sync().expect("b1");
    // Two answers for the worker: the first would bring everything; it arrives late, and twice.
    let first = world.phones[worker].exchange().expect("first");
    let t = script::ticket(&mut world, &mut m, worker, cell, false);
    let second = world.phones[worker].exchange().expect("second");
    world.phones[worker].apply(&second).expect("second");
    world.phones[worker].apply(&first).expect("first, late");
    world.phones[worker].apply(&first).expect("first, again");
    world.phones[worker].apply(&second).expect("second, again");
    script::step(&mut world, &mut m, worker, t, TicketStep::Take(None), 0);
    model::assert_all(&mut world, &m);
}

/// A backup of a replica file taken while it is open (SQLite's `VACUUM INTO`, as a phone backup would).
fn backup(world: &World, phone: usize, name: &str) -> std::path::PathBuf {
    let to = world.scratch("backups").join(name);
    world.phones[phone]
        .store
        .conn()
        .execute("VACUUM INTO ?1", [to.to_string_lossy()])
        .expect("backup");
    to
}

/// Puts a backup in place of the phone's file and reopens the replica on it.
fn restore(world: &mut World, phone: usize, from: &std::path::Path, name: &str) {
    let to = world.scratch("restored").join(name);
    std::fs::copy(from, &to).expect("restore");
    world.phones[phone].path = to;
    world.phones[phone].reopen();
}

/// A restored file no longer holds the ops it wrote after the backup; the server must send them back. This test
/// caught a server change (0ddbe37) that left all of a device's own ops out of its pulls, since fixed (70fcd69):
/// only the ops pushed in the same request are left out.
/// Cell 0's first butler earns `minutes` of approved activity, and the office phone is granted `points` of rights
/// on her card and syncs them. Returns (butler, office, the butler's user id as text).
fn office_holding_rights(
    world: &mut World,
    m: &mut Model,
    minutes: u64,
    points: u64,
) -> (usize, usize, String) {
    let cell = 0;
    let (butler, worker, office) = (
        world.cells[cell].butlers[0],
        world.cells[cell].workers[0],
        world.office,
    );
    let entry = script::activity(world, m, butler, cell, minutes);
    world.phones[butler].sync().expect("butler");
    world.phones[worker].sync().expect("worker");
    script::approve(world, m, worker, &entry, butler, minutes);
    world.phones[worker].sync().expect("worker");
    let device = world.phones[office].id.device;
    assert_eq!(
        world
            .console
            .grant(world.user(butler), device, points)
            .status,
        201
    );
    world.phones[office].sync().expect("office");
    (butler, office, world.user(butler).to_string())
}

/// The office phone redeems `points` of `user`'s card offline, for household 1 of cell 0 (not in the model: the
/// caller says what the server must keep).
fn redeem_offline(world: &mut World, office: usize, user: &str, points: u64) {
    let now = world.phones[office].now();
    let (hh, _) = world.cells[0].households[1];
    world.phones[office]
        .store
        .redeem(
            now,
            user,
            points,
            &linli_ffi::RedeemPurpose::FeeOffset {
                household_id: hh.to_string(),
                period: "2026-12".into(),
            },
        )
        .expect("the restored replica accepts it locally");
}

#[test]
fn a_restored_old_replica_file_syncs_back_to_the_same_state() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    let butler = world.cells[cell].butlers[0];
    script::visit(&mut world, &mut m, butler, cell, 0, false);
    world.phones[butler].sync().expect("sync");
    let old = backup(&world, butler, "butler.db");
    // Work after the backup: some acknowledged, some still waiting when the phone is restored.
    script::visit(&mut world, &mut m, butler, cell, 1, false);
    script::visit(&mut world, &mut m, butler, cell, 2, true);
    world.phones[butler].sync().expect("sync");
    restore(&mut world, butler, &old, "butler.db");
    assert_eq!(world.phones[butler].unsynced(), 0);
    world.phones[butler]
        .sync()
        .expect("the restored phone syncs");
    script::visit(&mut world, &mut m, butler, cell, 3, false);
    model::settle_and_check(&mut world, &m);
}

/// The restored office must learn of its own earlier redemption, or it would keep showing 15 points of rights and
/// a balance of 20 that the server no longer has (caught 0ddbe37 as well, fixed in 70fcd69).
#[test]
fn a_restored_office_phone_cannot_spend_rights_it_already_spent() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    let (butler, office, user) = office_holding_rights(&mut world, &mut m, 120, 15);
    let old = backup(&world, office, "office.db");
    script::redeem(&mut world, &mut m, office, butler, cell, 15).expect("within rights");
    world.phones[office].sync().expect("office");
    // The old file believes it still holds 15 points of rights, and spends them offline before syncing.
    restore(&mut world, office, &old, "office.db");
    assert_eq!(
        world.phones[office]
            .store
            .card(&user)
            .expect("card")
            .rights_here,
        15
    );
    redeem_offline(&mut world, office, &user, 15);
    world.phones[office].sync().expect("office syncs");
    // The server refused the double spend for good; the balance is 5, never below zero.
    assert_eq!(
        world.phones[office].set_aside.len(),
        1,
        "{:?}",
        world.phones[office].set_aside
    );
    let card = world.phones[office].store.card(&user).expect("card");
    assert_eq!((card.balance, card.rights_here), (5, 0));
    model::settle_and_check(&mut world, &m);
}

#[test]
fn clocks_behind_are_accepted_and_clocks_ahead_beyond_the_bound_wait() {
    let spec = Spec {
        server: ServerConfig {
            max_ahead_ms: 3_000,
            ..ServerConfig::default()
        },
        ..Spec::default()
    };
    let mut world = World::build(&spec);
    let mut m = Model::default();
    let cell = 0;
    let c = world.cells[cell].clone();
    let (late, early) = (c.butlers[0], c.butlers[1]);
    // Hours behind: accepted, with the old event times.
    world.phones[late].skew_ms = -3 * HOUR;
    let before = linli_sim::now_ms();
    script::visit(&mut world, &mut m, late, cell, 0, false);
    world.phones[late].sync().expect("a clock behind is fine");
    // Within the bound ahead: accepted.
    world.phones[early].skew_ms = 1_000;
    script::visit(&mut world, &mut m, early, cell, 1, false);
    world.phones[early]
        .sync()
        .expect("a second ahead is within 3 s");
    // Beyond the bound: held back for the round trip (the pull still runs), kept in the queue, not set aside.
    world.phones[early].skew_ms = 6_000;
    script::visit(&mut world, &mut m, early, cell, 2, false);
    world.phones[early]
        .sync()
        .expect("an op beyond the bound does not fail the sync");
    assert_eq!(world.phones[early].unsynced(), 1);
    assert!(world.phones[early].set_aside.is_empty());
    // The phone's clock is fixed; the op is accepted at a next sync: stamped again if it still lies beyond the
    // bound of the phone's clock, else as it is once the server's clock has caught up with its time.
    world.phones[early].skew_ms = 0;
    let mut accepted = false;
    for _ in 0..40 {
        world.phones[early].sync().expect("sync");
        if world.phones[early].unsynced() == 0 {
            accepted = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(accepted, "the op was accepted once the clock was set right");
    model::assert_all(&mut world, &m);
    let server = model::server_state(&world);
    let late_user = world.user(late);
    let visit_time = server
        .entries()
        .values()
        .filter_map(|e| e.record.as_ref())
        .find(|(_, r)| r.volunteer() == late_user)
        .map(|(stamp, _)| stamp.time.wall_ms)
        .expect("the late visit");
    // The phone's hybrid clock had observed the server's time at its last sync, so its event is stamped no
    // earlier than that: never three hours in the past, never before what the phone had already seen.
    assert!(
        visit_time + 60_000 >= before && visit_time <= linli_sim::now_ms(),
        "the late phone's event time follows its hybrid clock"
    );
}

#[test]
fn the_default_ten_minute_bound_accepts_nine_minutes_ahead_and_refuses_two_hours() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    let c = world.cells[cell].clone();
    let (ahead, far) = (c.butlers[0], c.butlers[1]);
    world.phones[ahead].skew_ms = 9 * 60_000;
    script::visit(&mut world, &mut m, ahead, cell, 0, false);
    world.phones[ahead]
        .sync()
        .expect("nine minutes ahead is within the bound");
    world.phones[far].skew_ms = 2 * HOUR;
    let mut refused_model = Model::default();
    script::visit(&mut world, &mut refused_model, far, cell, 1, false);
    world.phones[far]
        .sync()
        .expect("the op is held back, the pull runs");
    assert_eq!(world.phones[far].unsynced(), 1, "kept in the queue");
    assert!(world.phones[far].set_aside.is_empty(), "not set aside");
    // Nothing of the refused batch was stored; the others converge.
    for i in 0..world.phones.len() {
        if i != far {
            world.phones[i].sync().expect("sync");
        }
    }
    model::assert_converged(&world, &[far]);
    model::assert_model(&world, &m);
}

#[test]
fn two_grid_workers_on_one_ticket_offline_keep_both_histories() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    let c = world.cells[cell].clone();
    let (w0, w1) = (c.workers[0], c.workers[1]);
    let t = script::ticket(&mut world, &mut m, w0, cell, false);
    world.phones[w0].sync().expect("w0");
    world.phones[w1].sync().expect("w1");
    // Both offline: w0 takes, arrives and solves; w1 takes and arrives in between.
    script::step(&mut world, &mut m, w0, t, TicketStep::Take(None), 0);
    script::step(&mut world, &mut m, w1, t, TicketStep::Take(None), 30_000);
    script::step(&mut world, &mut m, w1, t, TicketStep::Arrive(None), 60_000);
    script::step(&mut world, &mut m, w0, t, TicketStep::Arrive(None), 90_000);
    script::step(&mut world, &mut m, w0, t, TicketStep::Solve(None), 240_000);
    world.phones[w1].sync().expect("w1");
    world.phones[w0].sync().expect("w0");
    m.tickets.insert(t, Status::Solved);
    model::assert_all(&mut world, &m);
    for phone in [w0, w1] {
        let ticket = world.phones[phone].state().ticket(&t).expect("ticket");
        assert_eq!(ticket.timeline().count(), 6, "create + 5 steps, none lost");
        assert_eq!(ticket.status(), Status::Solved);
    }
}

#[test]
fn two_devices_redeeming_one_card_offline_within_split_rights_never_overdraw() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    let (butler, worker, office) = (
        world.cells[cell].butlers[0],
        world.cells[cell].workers[0],
        world.office,
    );
    let office2 = world.enrol_another(office, "office-desk-2");
    let entry = script::activity(&mut world, &mut m, butler, cell, 120);
    world.phones[butler].sync().expect("butler");
    world.phones[worker].sync().expect("worker");
    script::approve(&mut world, &mut m, worker, &entry, butler, 120);
    world.phones[worker].sync().expect("worker");
    let vol = world.user(butler);
    for (phone, points) in [(office, 12), (office2, 8)] {
        let device = world.phones[phone].id.device;
        assert_eq!(world.console.grant(vol, device, points).status, 201);
        world.phones[phone].sync().expect("office syncs");
    }
    // Offline on both desks: every point of each desk's rights is spent; one more is refused on the phone.
    script::redeem(&mut world, &mut m, office, butler, cell, 5).expect("in rights");
    script::redeem(&mut world, &mut m, office, butler, cell, 7).expect("in rights");
    script::redeem(&mut world, &mut m, office2, butler, cell, 8).expect("in rights");
    assert!(script::redeem(&mut world, &mut m, office, butler, cell, 1).is_err());
    assert!(script::redeem(&mut world, &mut m, office2, butler, cell, 1).is_err());
    world.phones[office2]
        .sync()
        .expect("desk 2: no in-rights redemption refused");
    let card = world.phones[office2]
        .store
        .card(&vol.to_string())
        .expect("card");
    assert_eq!(card.balance, 12, "desk 2 sees only its own spend so far");
    world.phones[office]
        .sync()
        .expect("desk 1: no in-rights redemption refused");
    for phone in [office, office2] {
        assert!(world.phones[phone].set_aside.is_empty());
    }
    model::assert_all(&mut world, &m);
    assert_eq!(m.balance(&vol), 0);
}

#[test]
fn a_device_revoked_while_offline_is_wiped_and_its_replacement_converges() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    let butler = world.cells[cell].butlers[0];
    script::visit(&mut world, &mut m, butler, cell, 0, false);
    world.phones[butler].sync().expect("synced work");
    // Offline work that will never reach the server: the phone is reported lost and revoked meanwhile.
    let mut lost = Model::default();
    script::visit(&mut world, &mut lost, butler, cell, 1, false);
    script::visit(&mut world, &mut lost, butler, cell, 2, false);
    world.console.revoke(world.phones[butler].id.device);
    let r = world.phones[butler].sync();
    assert_eq!(r, Err(SyncError::Refused("device_revoked".into())));
    assert_eq!(world.phones[butler].unsynced(), 0, "wiped");
    assert!(world.phones[butler].state().entries().is_empty(), "wiped");
    assert!(
        world.phones[butler].store.prepare_sync().is_err(),
        "revoked for good"
    );
    let replacement = world.enrol_another(butler, "butler-new-phone");
    world.phones[replacement]
        .sync()
        .expect("the new phone bootstraps");
    script::visit(&mut world, &mut m, replacement, cell, 3, false);
    world.phones.swap(butler, replacement);
    world.phones.pop();
    model::assert_all(&mut world, &m);
}

#[test]
fn a_replaced_phone_bootstraps_exactly_its_scope() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    linli_sim::schedule::play(
        &mut world,
        &mut m,
        11,
        linli_sim::schedule::Plan {
            steps: 120,
            faults: false,
        },
    );
    world.settle();
    let server = model::server_state(&world);
    for (who, label) in [
        (world.cells[0].butlers[0], "butler-replacement"),
        (world.cells[1].workers[0], "worker-replacement"),
    ] {
        let new = world.enrol_another(who, label);
        world.phones[new].sync().expect("bootstrap");
        let p = &world.phones[new];
        let viewer = Viewer {
            user: p.id.user,
            role: p.id.role,
        };
        assert!(
            p.state() == &viewer.scope(&server),
            "{label}: the snapshot holds exactly the user's scope"
        );
        let other_cell = if who == world.cells[0].butlers[0] {
            1
        } else {
            0
        };
        let hidden = world.cells[other_cell].id;
        // Of another cell a phone holds only the directory entry (name, community): no household, no member.
        assert!(
            p.state()
                .grid(&hidden)
                .is_none_or(|g| g.households.is_empty()
                    && g.workers.is_empty()
                    && g.butlers.is_empty()
                    && g.visits.is_empty()),
            "{label} sees another cell's households or members"
        );
        assert_eq!(
            model::figures(p.state()),
            model::figures(&viewer.scope(&server))
        );
        if p.id.role == Role::Volunteer {
            assert!(p.state().cards().keys().all(|owner| *owner == p.id.user));
        }
    }
    model::assert_all(&mut world, &m);
}

/// Issue 17, item 4: a phone restored from a backup reuses its card spend sequence numbers. Before the fix its first
/// redemption after the restore was refused `sequence_gap` and set aside for good, although the card still had
/// the rights for it. Now it renumbers its waiting spends above the server's, pulls first, and only the spend that
/// really exceeds its rights is set aside.
#[test]
fn a_restored_office_phone_renumbers_its_spends_and_loses_only_what_exceeds_its_rights() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    // 180 minutes earn 30 points; all 30 go to the office phone as rights.
    let (butler, office, user) = office_holding_rights(&mut world, &mut m, 180, 30);
    let device = world.phones[office].id.device;
    assert_eq!(
        world.phones[office]
            .store
            .card(&user)
            .expect("card")
            .rights_here,
        30
    );
    let old = backup(&world, office, "office-renumber.db");
    // After the backup: one redemption of 10, acknowledged (sequence 1).
    script::redeem(&mut world, &mut m, office, butler, cell, 10).expect("within rights");
    world.phones[office].sync().expect("office");

    // The phone is restored; offline, the office redeems 10, 5 and 10 (sequences 1, 2, 3 again): 35 points on
    // top of 10 already spent, against 30 of rights. The first two fit; the last one does not.
    restore(&mut world, office, &old, "office-renumber.db");
    for points in [10, 5, 10] {
        redeem_offline(&mut world, office, &user, points);
    }
    let last = world.phones[office]
        .local_ops()
        .last()
        .map(|(id, _)| id.clone())
        .expect("the last spend");
    world.phones[office].sync().expect("office syncs");

    assert_eq!(
        world.phones[office].set_aside,
        vec!["insufficient_rights".to_string()]
    );
    let rejected = world.phones[office].store.rejected_ops().expect("rejected");
    assert_eq!(
        rejected.iter().map(|r| r.op_id.clone()).collect::<Vec<_>>(),
        vec![last]
    );
    assert_eq!(world.phones[office].unsynced(), 0);
    // 30 credited, 10 + 10 + 5 redeemed: 5 left, no rights left on the phone, and the server agrees.
    let card = world.phones[office].store.card(&user).expect("card");
    assert_eq!((card.balance, card.rights_here), (5, 5));
    let server = world.console.snapshot().state;
    let server_card = server.card(&world.user(butler)).expect("card");
    assert_eq!(server_card.balance().0, 5);
    assert_eq!(server_card.rights(device).0, 5);
    for points in [10, 5] {
        m.redeem(world.user(butler), points);
    }
    model::settle_and_check(&mut world, &m);
}

/// A backup taken while a spend was still waiting: after the backup the spend reached the server (sequence 1) and a
/// second one followed (sequence 2). The restored file holds the first spend as waiting again, and spends once
/// more offline. The server skips the first as a retry and refuses the new one `sequence_gap`; only the refused
/// spend and those after it may be renumbered, or the phone would push the server's own spend under a new number,
/// be refused `op_id_conflict`, and list as refused a redemption that took effect (review of issue 17).
#[test]
fn a_restored_phone_renumbers_only_the_refused_spend_and_those_after_it() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    let (butler, office, user) = office_holding_rights(&mut world, &mut m, 180, 30);
    // Spend 1 is written, and the file is backed up before it is pushed.
    script::redeem(&mut world, &mut m, office, butler, cell, 5).expect("within rights");
    let old = backup(&world, office, "office-waiting.db");
    world.phones[office]
        .sync()
        .expect("spend 1 reaches the server");
    script::redeem(&mut world, &mut m, office, butler, cell, 5).expect("within rights");
    world.phones[office]
        .sync()
        .expect("spend 2 reaches the server");

    restore(&mut world, office, &old, "office-waiting.db");
    redeem_offline(&mut world, office, &user, 10);
    world.phones[office].sync().expect("office syncs");

    assert!(
        world.phones[office].set_aside.is_empty(),
        "{:?}",
        world.phones[office].set_aside
    );
    assert!(
        world.phones[office]
            .store
            .rejected_ops()
            .expect("rejected")
            .is_empty()
    );
    assert_eq!(world.phones[office].unsynced(), 0);
    // 30 credited, 5 + 5 + 10 redeemed: 10 left, and the server agrees.
    let card = world.phones[office].store.card(&user).expect("card");
    assert_eq!((card.balance, card.rights_here), (10, 10));
    let server = world.console.snapshot().state;
    let server_card = server.card(&world.user(butler)).expect("card");
    assert_eq!(server_card.balance().0, 10);
    m.redeem(world.user(butler), 10);
    model::settle_and_check(&mut world, &m);
}
