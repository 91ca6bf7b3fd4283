//! A morning in one grid cell, offline: three phones write on their own, then meet in two different orders and
//! agree. Run: `cargo run -p linli-sync-core --example offline_day`.

use linli_sync_core::grid::Household;
use linli_sync_core::prelude::*;

const T0: u64 = 1_795_766_400_000; // 2026-11-27 08:00 UTC
const MIN: u64 = 60_000;

fn main() {
    let rules = Rules::DEFAULT;
    let clock = || HlcClock::new(rules.drift);
    let (admin, worker_a, worker_b, butler, office_user) = (
        UserId::random(),
        UserId::random(),
        UserId::random(),
        UserId::random(),
        UserId::random(),
    );
    let mut server = Writer::new(ReplicaId::SERVER, admin, clock());
    let mut phone_a = Writer::new(ReplicaId::random(), worker_a, clock());
    let mut phone_b = Writer::new(ReplicaId::random(), worker_b, clock());
    let mut butler_phone = Writer::new(ReplicaId::random(), butler, clock());
    let office = ReplicaId::random();

    // The server's set-up, which every phone has pulled.
    let grid = GridId::random();
    let household = HouseholdId::random();
    let mut setup = vec![server.op(
        T0,
        OpBody::Grid(
            grid,
            GridOp::Create {
                name: "第三网格".into(),
                community: "幸福里社区".into(),
            },
        ),
    )];
    setup.push(server.op(
        T0,
        OpBody::Grid(
            grid,
            GridOp::AddHousehold {
                household,
                details: Household {
                    building: "3".into(),
                    unit: "2".into(),
                    room: "301".into(),
                    elderly_alone: true,
                    contact_name: None,
                },
            },
        ),
    ));
    for (user, role) in [
        (worker_a, MemberRole::Worker),
        (worker_b, MemberRole::Worker),
        (butler, MemberRole::Butler),
    ] {
        setup.push(server.op(T0, OpBody::Grid(grid, GridOp::AddMember { user, role })));
    }
    let ticket = TicketId::random();
    setup.push(phone_a.op(
        T0 + MIN,
        OpBody::Ticket(
            ticket,
            TicketOp::Create(TicketCreate {
                grid,
                request_type: RequestType::Complaint,
                category: "water_leak".into(),
                complexity: Complexity::Small,
                location: Location {
                    building: "3".into(),
                    household: Some(household),
                    ..Location::default()
                },
                description: "楼道漏水".into(),
                channel: Channel::GroupChat,
                reporter: Reporter::default(),
                from_visit: None,
            }),
        ),
    ));
    let mut base = State::new(rules);
    for op in &setup {
        base.validate_op(op).expect("valid set-up");
        base.apply(op);
    }

    // Offline: both grid workers take the ticket and arrive; the micro-butler knocks and flags a health worry.
    let lifecycle = |w: &mut Writer, minute: u64, op: TicketOp| {
        w.op(T0 + minute * MIN, OpBody::Ticket(ticket, op))
    };
    let mut offline = vec![
        lifecycle(&mut phone_a, 2, TicketOp::Take(Note::default())),
        lifecycle(&mut phone_b, 3, TicketOp::Take(Note::default())),
        lifecycle(&mut phone_b, 6, TicketOp::Arrive(Note::default())),
        lifecycle(&mut phone_a, 8, TicketOp::Arrive(Note::default())),
        lifecycle(&mut phone_a, 20, TicketOp::Solve(Note::default())),
    ];
    let visit = Visit {
        volunteer: butler,
        grid,
        household,
        seen: true,
        health: Some(HealthFlag::Unwell),
        needs: vec![Need::Medicine],
        notes: "说头晕".into(),
        follow_up: None,
    };
    offline.extend(butler_phone.visit(T0 + 9 * MIN, EntryId::random(), visit));
    // The butler patrols for 90 minutes; grid worker A approves, which credits 15 points.
    let patrol = EntryId::random();
    let activity = butler_phone.op(
        T0 + 100 * MIN,
        OpBody::Entry(
            patrol,
            EntryOp::Activity(Activity {
                volunteer: butler,
                grid,
                activity: "patrol".into(),
                start_ms: T0 + 10 * MIN,
                end_ms: T0 + 100 * MIN,
                notes: String::new(),
            }),
        ),
    );
    let mut seen_by_a = base.clone();
    seen_by_a.apply(&activity);
    let approval = phone_a
        .approve(&seen_by_a, T0 + 101 * MIN, patrol, None)
        .expect("approvable");
    offline.push(activity);
    offline.extend(approval);
    // The server grants the property office 10 points of rights; the office offsets a fee offline.
    let mut with_credit = base.clone();
    for op in &offline {
        with_credit.apply(op);
    }
    let grant = server.op(
        T0 + 102 * MIN,
        OpBody::Card(
            butler,
            CardOp::Transfer {
                to: office,
                points: Points(10),
                seq: 1,
            },
        ),
    );
    with_credit.apply(&grant);
    let redeem = Writer::new(office, office_user, clock()).op(
        T0 + 103 * MIN,
        OpBody::Card(
            butler,
            CardOp::Redeem {
                points: Points(10),
                seq: 1,
                purpose: Purpose::FeeOffset {
                    household,
                    period: "2026-11".into(),
                },
            },
        ),
    );
    with_credit
        .validate_op(&redeem)
        .expect("within the office's rights");
    offline.push(grant);
    offline.push(redeem);

    // Two replicas hear everything in opposite orders, one of them twice.
    let mut forward = base.clone();
    for op in &offline {
        forward.apply(op);
    }
    let mut backward = base.clone();
    for op in offline.iter().rev().chain(offline.iter()) {
        backward.apply(op);
    }
    assert_eq!(forward, backward);

    let t = forward.ticket(&ticket).expect("ticket");
    let e = evaluate(t, &rules.rule52022, T0 + 200 * MIN);
    println!("ops written offline: {}", offline.len());
    println!(
        "replicas agree after opposite delivery orders: {}",
        forward == backward
    );
    println!(
        "ticket status: {:?}, events kept: {}",
        t.status(),
        t.timeline().count()
    );
    println!("5-20-2-2: on site {:?}, solved {:?}", e.on_site, e.solved);
    println!(
        "follow-up tickets raised by the health flag: {}",
        forward.tickets().len() - 1
    );
    let card = forward.card(&butler).expect("card");
    println!(
        "card: credited {} − redeemed {} = balance {}",
        card.credited(),
        card.redeemed(),
        card.balance()
    );
}
