//! A field day with no faults, end to end: butlers knock on doors offline (one resident feels unwell and a
//! follow-up ticket is raised), a volunteer's hours are approved and credited, a grid worker handles tickets under
//! 5-20-2-2, the property office redeems points against a fee; then every replica and the server agree with each
//! other and with the model the test keeps. A random schedule of the same actions follows.

use linli_ffi::store::TicketStep;
use linli_sim::model::{self, Model};
use linli_sim::schedule::{self, Plan};
use linli_sim::script;
use linli_sim::world::{Spec, World};
use linli_sync_core::prelude::Status;

#[test]
fn a_scripted_field_day_converges_to_the_models_totals() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let cell = 0;
    let c = world.cells[cell].clone();
    let (butler, worker) = (c.butlers[0], c.workers[0]);

    // Morning, offline in the stairwells: visits, one resident unwell.
    for h in 0..c.households.len() {
        script::visit(&mut world, &mut m, c.butlers[h % 2], cell, h, false);
    }
    let follow_up = script::visit(&mut world, &mut m, butler, cell, 0, true)
        .expect("an unwell resident raises a follow-up ticket");
    let entry = script::activity(&mut world, &mut m, butler, cell, 90);
    world.phones[butler].sync().expect("butler syncs");

    // The grid worker gets the ticket and the hours, handles both offline, then syncs.
    world.phones[worker].sync().expect("worker syncs");
    script::step(
        &mut world,
        &mut m,
        worker,
        follow_up,
        TicketStep::Take(None),
        0,
    );
    script::step(
        &mut world,
        &mut m,
        worker,
        follow_up,
        TicketStep::Arrive(None),
        120_000,
    );
    script::step(
        &mut world,
        &mut m,
        worker,
        follow_up,
        TicketStep::Solve(None),
        600_000,
    );
    script::approve(&mut world, &mut m, worker, &entry, butler, 90);
    let leak = script::ticket(&mut world, &mut m, worker, cell, true);
    script::step(&mut world, &mut m, worker, leak, TicketStep::Take(None), 0);
    script::step(
        &mut world,
        &mut m,
        worker,
        leak,
        TicketStep::Plan("业委会议事".into()),
        60_000,
    );
    world.phones[worker].sync().expect("worker syncs");

    // The property office gets 10 of the 15 points as rights, and offsets a household's fee.
    let office = world.office;
    let answer = world
        .console
        .grant(world.user(butler), world.phones[office].id.device, 10);
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    world.phones[office].sync().expect("office syncs");
    script::redeem(&mut world, &mut m, office, butler, cell, 10).expect("within rights");
    let over = script::redeem(&mut world, &mut m, office, butler, cell, 1);
    assert!(
        over.is_err(),
        "a redemption beyond the rights held is refused on the phone"
    );

    model::assert_all(&mut world, &m);
    assert_eq!(m.tickets[&follow_up], Status::Solved);
    assert_eq!(m.balance(&world.user(butler)), 5);
    let summary = world.phones[butler].store.summary().expect("summary");
    assert_eq!(
        (summary.approved_minutes, summary.card_balance),
        (90, 5),
        "the butler's own summary view"
    );
}

#[test]
fn a_random_day_without_faults_converges() {
    let mut world = World::build(&Spec::default());
    let mut m = Model::default();
    let tally = schedule::play(
        &mut world,
        &mut m,
        7,
        Plan {
            steps: 150,
            faults: false,
        },
    );
    assert!(tally.syncs > 0);
    model::assert_all(&mut world, &m);
}
