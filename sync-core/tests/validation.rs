//! Validation and rights, table-driven: every rule an op can break gets its typed error, and a refused op leaves
//! the state as it was.

use linli_sync_core::card::Movement;
use linli_sync_core::prelude::*;
use linli_sync_core::rights::{RightsError, Viewer};
use linli_sync_core::test_support::{Cast, History, T0};

const MIN: u64 = 60_000;

struct Fixture {
    cast: Cast,
    state: State,
    office: ReplicaId,
    phone: ReplicaId,
    butler_phone: ReplicaId,
}

fn fixture() -> Fixture {
    let h = History::simulate(2, &[]);
    let mut state = State::new(Rules::DEFAULT);
    for op in &h.ops {
        state.apply(op);
    }
    Fixture {
        cast: h.cast,
        state,
        office: ReplicaId::random(),
        phone: ReplicaId::random(),
        butler_phone: ReplicaId::random(),
    }
}

fn writer(replica: ReplicaId, user: UserId) -> Writer {
    Writer::new(replica, user, HlcClock::new(DriftPolicy::DEFAULT))
}

/// Validates then applies, as a server does; panics on refusal.
fn record(state: &mut State, op: &Op) {
    state
        .validate_op(op)
        .unwrap_or_else(|e| panic!("{}: {e}", op.kind()));
    state.apply(op);
}

fn refused(state: &State, op: &Op) -> OpError {
    let before = state.clone();
    let err = state.validate_op(op).expect_err("must be refused");
    assert_eq!(state, &before);
    err
}

/// The butler logs 90 minutes of patrol; worker A approves (crediting 15 points); returns the entry id.
fn approved_activity(f: &mut Fixture) -> EntryId {
    let entry = EntryId::random();
    let mut butler = writer(f.butler_phone, f.cast.butler);
    let op = butler.op(
        T0 + 100 * MIN,
        OpBody::Entry(
            entry,
            EntryOp::Activity(Activity {
                volunteer: f.cast.butler,
                grid: f.cast.grids[0],
                activity: "patrol".into(),
                start_ms: T0 + 10 * MIN,
                end_ms: T0 + 100 * MIN,
                notes: String::new(),
            }),
        ),
    );
    record(&mut f.state, &op);
    let mut worker = writer(f.phone, f.cast.worker_a);
    for op in worker
        .approve(&f.state, T0 + 110 * MIN, entry, None)
        .expect("approvable")
    {
        record(&mut f.state, &op);
    }
    entry
}

fn spend(w: &mut Writer, card: UserId, at: u64, op: CardOp) -> Op {
    w.op(at, OpBody::Card(card, op))
}

fn redeem(points: u64, seq: u64, household: HouseholdId) -> CardOp {
    CardOp::Redeem {
        points: Points(points),
        seq,
        purpose: Purpose::FeeOffset {
            household,
            period: "2026-11".into(),
        },
    }
}

#[test]
fn card_redemptions_stay_within_rights_and_every_point_is_traceable() {
    let mut f = fixture();
    let entry = approved_activity(&mut f);
    let card = f.cast.butler;
    let h = f.cast.households[0][0];
    assert_eq!(f.state.card(&card).map(Card::balance), Some(Points(15)));
    assert_eq!(
        f.state.card(&card).map(|c| c.rights(ReplicaId::SERVER)),
        Some(Points(15))
    );

    // The office device holds nothing yet: redeeming offline is refused with the rights it holds.
    let mut office = writer(f.office, f.cast.office);
    assert_eq!(
        refused(
            &f.state,
            &spend(&mut office, card, T0 + 120 * MIN, redeem(5, 1, h))
        ),
        OpError::InsufficientRights {
            held: Points(0),
            requested: Points(5)
        }
    );

    // The server grants 10 of the 15 points; the office redeems 6 then 4; a further point is an overdraft.
    let mut server = writer(ReplicaId::SERVER, f.cast.admin);
    let grant = spend(
        &mut server,
        card,
        T0 + 121 * MIN,
        CardOp::Transfer {
            to: f.office,
            points: Points(10),
            seq: 1,
        },
    );
    record(&mut f.state, &grant);
    record(
        &mut f.state,
        &spend(&mut office, card, T0 + 122 * MIN, redeem(6, 1, h)),
    );
    let second = spend(&mut office, card, T0 + 123 * MIN, redeem(4, 2, h));
    record(&mut f.state, &second);
    assert_eq!(
        refused(
            &f.state,
            &spend(&mut office, card, T0 + 124 * MIN, redeem(1, 3, h))
        ),
        OpError::InsufficientRights {
            held: Points(0),
            requested: Points(1)
        }
    );
    // A retried op is not a new spend.
    assert_eq!(f.state.validate_op(&second), Ok(()));
    // A skipped sequence number is refused.
    assert_eq!(
        refused(
            &f.state,
            &spend(&mut server, card, T0 + 125 * MIN, redeem(1, 3, h))
        ),
        OpError::SequenceGap {
            expected: 2,
            found: 3
        }
    );
    assert!(matches!(
        refused(
            &f.state,
            &spend(&mut server, card, T0 + 125 * MIN, redeem(0, 2, h))
        ),
        OpError::InvalidField {
            field: "points",
            ..
        }
    ));

    let c = f.state.card(&card).expect("card");
    assert_eq!(c.balance(), Points(5));
    assert_eq!(c.rights(ReplicaId::SERVER), Points(5));
    assert_eq!(c.rights(f.office), Points(0));
    let movements = c.movements();
    assert_eq!(movements.len(), 3);
    assert!(
        matches!(&movements[0], Movement::Credit { entry: e, credit } if *e == entry && credit.points == Points(15))
    );
}

#[test]
fn two_devices_redeeming_offline_with_split_rights_never_overdraw() {
    let mut f = fixture();
    approved_activity(&mut f);
    let card = f.cast.butler;
    let h = f.cast.households[0][0];
    let second_office = ReplicaId::random();
    let mut server = writer(ReplicaId::SERVER, f.cast.admin);
    record(
        &mut f.state,
        &spend(
            &mut server,
            card,
            T0 + 121 * MIN,
            CardOp::Transfer {
                to: f.office,
                points: Points(8),
                seq: 1,
            },
        ),
    );
    record(
        &mut f.state,
        &spend(
            &mut server,
            card,
            T0 + 121 * MIN,
            CardOp::Transfer {
                to: second_office,
                points: Points(7),
                seq: 2,
            },
        ),
    );
    // Both devices go offline with their own copy and spend all they hold.
    let (mut a, mut b) = (f.state.clone(), f.state.clone());
    let op_a = spend(
        &mut writer(f.office, f.cast.office),
        card,
        T0 + 130 * MIN,
        redeem(8, 1, h),
    );
    let op_b = spend(
        &mut writer(second_office, f.cast.office),
        card,
        T0 + 131 * MIN,
        redeem(7, 1, h),
    );
    record(&mut a, &op_a);
    record(&mut b, &op_b);
    // Neither could have spent a point more.
    let mut a2 = a.clone();
    let over = spend(
        &mut writer(f.office, f.cast.office),
        card,
        T0 + 132 * MIN,
        redeem(1, 2, h),
    );
    assert!(matches!(
        a2.validate_op(&over),
        Err(OpError::InsufficientRights { .. })
    ));
    // At sync, the server accepts both (each within its device's rights): balance exactly zero.
    for op in [&op_b, &op_a] {
        record(&mut f.state, op);
    }
    a2.apply(&op_b);
    assert_eq!(f.state.card(&card).map(Card::balance), Some(Points(0)));
    assert_eq!(a2, f.state);
}

#[test]
fn concurrent_double_approval_counts_once() {
    let mut f = fixture();
    let entry = approved_activity(&mut f);
    // A second grid worker (admin here) approved the same entry offline before hearing of the first approval.
    let mut admin = writer(ReplicaId::random(), f.cast.admin);
    for op in admin
        .approve(&f.state, T0 + 111 * MIN, entry, None)
        .expect("approvable")
    {
        record(&mut f.state, &op);
    }
    let e = f.state.entry(&entry).expect("entry");
    assert_eq!(e.status(), EntryStatus::Approved);
    assert_eq!(e.approved_minutes(), 90);
    assert_eq!(
        f.state.card(&f.cast.butler).map(Card::balance),
        Some(Points(15))
    );
    // A rejection that raced the approval is stored but loses.
    let mut worker = writer(f.phone, f.cast.worker_a);
    let reject = worker.op(
        T0 + 112 * MIN,
        OpBody::Entry(
            entry,
            EntryOp::Reject(Reason {
                reason: Some("重复".into()),
            }),
        ),
    );
    record(&mut f.state, &reject);
    assert_eq!(
        f.state.entry(&entry).map(|e| e.status()),
        Some(EntryStatus::Approved)
    );
    // ... but the phone that writes it now is told that the entry is already approved.
    assert!(matches!(
        f.state.validate_local(&reject),
        Err(OpError::InvalidTransition { .. })
    ));
}

#[test]
fn malformed_ops_get_the_rule_they_break() {
    let f = fixture();
    let g = f.cast.grids[0];
    let h = f.cast.households[0][0];
    let mut w = writer(f.phone, f.cast.worker_a);
    let create = |description: &str, lat: Option<f64>| TicketCreate {
        grid: g,
        request_type: RequestType::Report,
        category: "hazard".into(),
        complexity: Complexity::Small,
        location: Location {
            building: "1".into(),
            lat,
            ..Location::default()
        },
        description: description.into(),
        channel: Channel::Patrol,
        reporter: Reporter::default(),
        from_visit: None,
    };
    let ticket = TicketId::random();
    let mut s = f.state.clone();
    record(
        &mut s,
        &w.op(
            T0,
            OpBody::Ticket(ticket, TicketOp::Create(create("电动车楼道充电", None))),
        ),
    );

    let activity = |start: u64, end: u64| {
        EntryOp::Activity(Activity {
            volunteer: f.cast.worker_a,
            grid: g,
            activity: "patrol".into(),
            start_ms: start,
            end_ms: end,
            notes: String::new(),
        })
    };
    let cases: Vec<(OpBody, &str)> = vec![
        (
            OpBody::Ticket(TicketId::random(), TicketOp::Create(create("  ", None))),
            "description",
        ),
        (
            OpBody::Ticket(
                TicketId::random(),
                TicketOp::Create(create("x", Some(91.0))),
            ),
            "location.lat",
        ),
        (
            OpBody::Ticket(
                TicketId::random(),
                TicketOp::Create(create(&"长".repeat(4001), None)),
            ),
            "description",
        ),
        (
            OpBody::Ticket(
                ticket,
                TicketOp::Rate(Rating {
                    satisfaction: 0,
                    note: None,
                }),
            ),
            "satisfaction",
        ),
        (
            OpBody::Ticket(
                ticket,
                TicketOp::Rate(Rating {
                    satisfaction: 6,
                    note: None,
                }),
            ),
            "satisfaction",
        ),
        (
            OpBody::Ticket(ticket, TicketOp::Plan(Note::default())),
            "note",
        ),
        (
            OpBody::Ticket(ticket, TicketOp::Edit(TicketEdit::default())),
            "body",
        ),
        (OpBody::Entry(EntryId::random(), activity(T0, T0)), "end_ms"),
        (
            OpBody::Entry(EntryId::random(), activity(T0 - 25 * 60 * MIN, T0)),
            "end_ms",
        ),
        (
            OpBody::Entry(EntryId::random(), activity(T0, T0 + 60 * MIN)),
            "end_ms",
        ),
        (
            OpBody::Entry(
                EntryId::random(),
                EntryOp::Visit(Visit {
                    volunteer: f.cast.worker_a,
                    grid: g,
                    household: h,
                    seen: true,
                    health: Some(HealthFlag::Fall),
                    needs: vec![],
                    notes: String::new(),
                    follow_up: None,
                }),
            ),
            "follow_up",
        ),
    ];
    for (body, field) in cases {
        let op = w.op(T0 + MIN, body);
        match refused(&s, &op) {
            OpError::InvalidField { field: f, .. } => assert_eq!(f, field, "{}", op.kind()),
            other => panic!("{}: expected invalid `{field}`, got {other:?}", op.kind()),
        }
    }
    // Unknown and duplicate entities.
    let unknown = w.op(
        T0,
        OpBody::Ticket(TicketId::random(), TicketOp::Take(Note::default())),
    );
    assert!(matches!(
        refused(&s, &unknown),
        OpError::UnknownEntity {
            entity: "ticket",
            ..
        }
    ));
    let again = w.op(
        T0,
        OpBody::Ticket(ticket, TicketOp::Create(create("另一张", None))),
    );
    assert!(matches!(
        refused(&s, &again),
        OpError::AlreadyExists {
            entity: "ticket",
            ..
        }
    ));
    let elsewhere = w.op(
        T0,
        OpBody::Ticket(
            TicketId::random(),
            TicketOp::Create(TicketCreate {
                grid: GridId::random(),
                ..create("x", None)
            }),
        ),
    );
    assert!(matches!(
        refused(&s, &elsewhere),
        OpError::UnknownEntity { entity: "grid", .. }
    ));
    // A credit must match the approved minutes at the policy rate.
    let mut f2 = fixture();
    let entry = approved_activity(&mut f2);
    let approval = f2
        .state
        .entry(&entry)
        .and_then(|e| e.first_approval())
        .map(|(s, _)| s.op)
        .expect("approved");
    let forged = w.op(
        T0,
        OpBody::Card(
            f2.cast.butler,
            CardOp::Credit {
                entry,
                approval,
                minutes: 90,
                points: Points(150),
            },
        ),
    );
    assert!(matches!(
        refused(&f2.state, &forged),
        OpError::InvalidField {
            field: "points",
            ..
        }
    ));
}

#[test]
fn roles_and_scopes() {
    let f = fixture();
    let [g0, g1] = f.cast.grids;
    let h0 = f.cast.households[0][0];
    let h1 = f.cast.households[1][0];
    let ticket_in = |grid: GridId, household| {
        TicketOp::Create(TicketCreate {
            grid,
            request_type: RequestType::Help,
            category: "help".into(),
            complexity: Complexity::Small,
            location: Location {
                building: "1".into(),
                household: Some(household),
                ..Location::default()
            },
            description: "需要帮助".into(),
            channel: Channel::Visit,
            reporter: Reporter::default(),
            from_visit: None,
        })
    };
    let mut worker = writer(f.phone, f.cast.worker_a);
    let mut butler = writer(f.butler_phone, f.cast.butler);
    let check = |w: &mut Writer, role: Role, body: OpBody| {
        let op = w.op(T0, body);
        authorize(&f.state, w.replica, w.author, role, &op)
    };
    // A grid worker writes in their own grid cell only.
    assert_eq!(
        check(
            &mut worker,
            Role::GridWorker,
            OpBody::Ticket(TicketId::random(), ticket_in(g0, h0))
        ),
        Ok(())
    );
    assert!(matches!(
        check(
            &mut worker,
            Role::GridWorker,
            OpBody::Ticket(TicketId::random(), ticket_in(g1, h1))
        ),
        Err(RightsError::OutOfScope { .. })
    ));
    // Nobody but an admin creates grid cells or spends card points.
    assert_eq!(
        check(
            &mut worker,
            Role::GridWorker,
            OpBody::Grid(
                GridId::random(),
                GridOp::Create {
                    name: "x".into(),
                    community: "y".into()
                }
            )
        ),
        Err(RightsError::RoleForbidden {
            role: Role::GridWorker,
            kind: OpKind::GridCreate
        })
    );
    assert!(matches!(
        check(
            &mut butler,
            Role::Volunteer,
            OpBody::Card(f.cast.butler, redeem(1, 1, h0))
        ),
        Err(RightsError::RoleForbidden { .. })
    ));
    // A volunteer logs only their own visits.
    let visit = |volunteer| {
        OpBody::Entry(
            EntryId::random(),
            EntryOp::Visit(Visit {
                volunteer,
                grid: g0,
                household: h0,
                seen: true,
                health: None,
                needs: vec![],
                notes: String::new(),
                follow_up: None,
            }),
        )
    };
    assert_eq!(
        check(&mut butler, Role::Volunteer, visit(f.cast.butler)),
        Ok(())
    );
    assert!(matches!(
        check(&mut butler, Role::Volunteer, visit(f.cast.worker_a)),
        Err(RightsError::OutOfScope { .. })
    ));
    // A device cannot write as another device or user.
    let op = worker.op(T0, visit(f.cast.worker_a));
    assert_eq!(
        authorize(
            &f.state,
            f.butler_phone,
            f.cast.worker_a,
            Role::GridWorker,
            &op
        ),
        Err(RightsError::WrongActor { field: "replica" })
    );
    assert_eq!(
        authorize(&f.state, f.phone, f.cast.butler, Role::GridWorker, &op),
        Err(RightsError::WrongActor { field: "author" })
    );
    // The matrix has no surprises: admins may do everything, volunteers only their five kinds.
    for kind in OpKind::ALL {
        assert!(permits(Role::Admin, *kind));
    }
    assert_eq!(
        OpKind::ALL
            .iter()
            .filter(|k| permits(Role::Volunteer, **k))
            .count(),
        5
    );
}

#[test]
fn viewers_see_only_their_scope() {
    let f = fixture();
    let worker = Viewer {
        user: f.cast.worker_a,
        role: Role::GridWorker,
    };
    let scoped = worker.scope(&f.state);
    // Grid worker A works in grid 0: all of it; of grid 1 only the directory entry (name, community).
    let g0 = scoped.grid(&f.cast.grids[0]).expect("grid 0");
    assert_eq!(g0.households.len(), 3);
    let g1 = scoped
        .grid(&f.cast.grids[1])
        .expect("grid 1's directory entry");
    assert!(g1.households.is_empty() && g1.workers.is_empty() && g1.visits.is_empty());
    assert_eq!(
        g1.name,
        f.state.grid(&f.cast.grids[1]).expect("grid 1").name
    );
    let admin = Viewer {
        user: f.cast.admin,
        role: Role::Admin,
    };
    assert_eq!(admin.scope(&f.state), f.state);
    let stranger = Viewer {
        user: UserId::random(),
        role: Role::Volunteer,
    };
    assert!(
        stranger
            .scope(&f.state)
            .grids()
            .values()
            .all(|g| g.households.is_empty() && g.butlers.is_empty())
    );
}

mod working_set {
    use super::*;
    use linli_sync_core::test_support::history;
    use proptest::prelude::*;

    /// Run `batch` through authorize + validate + apply on `state`, as a server does; the per-op outcomes.
    fn outcomes(mut state: State, batch: &[Op]) -> Vec<String> {
        let roles = [Role::Admin, Role::GridWorker, Role::Volunteer];
        batch
            .iter()
            .map(|op| {
                let rights: Vec<String> = roles
                    .iter()
                    .map(|r| format!("{:?}", authorize(&state, op.replica, op.author, *r, op)))
                    .collect();
                let valid = state.validate_op(op);
                if valid.is_ok() {
                    state.apply(op);
                }
                format!("{rights:?} {valid:?}")
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Validating a batch against the working set gives the same result, op by op, as against the whole state.
        #[test]
        fn the_working_set_validates_like_the_whole_state(h in history(5, 60), cut in any::<prop::sample::Index>(), len in 1usize..30) {
            let at = cut.index(h.ops.len());
            let mut state = State::new(Rules::DEFAULT);
            for op in &h.ops[..at] {
                state.apply(op);
            }
            let batch = &h.ops[at..(at + len).min(h.ops.len())];
            prop_assert_eq!(outcomes(state.working_set(batch), batch), outcomes(state, batch));
        }
    }
}

/// Issue 17, item 3: a removal takes away rights from the ops stamped after it only. The server (`authorize`,
/// `validate_op`) judges as of the op's stamp; the writing device (`authorize_local`, `validate_local`) judges as
/// of everything it has seen, whatever its clock says.
#[test]
fn removals_count_against_ops_stamped_after_them_only() {
    let mut f = fixture();
    let (grid, household) = (f.cast.grids[0], f.cast.households[0][0]);
    let mut admin = writer(ReplicaId::SERVER, f.cast.admin);
    let mut butler = writer(f.butler_phone, f.cast.butler);
    let visit = |w: &mut Writer, at: u64, household: HouseholdId| {
        w.op(
            at,
            OpBody::Entry(
                EntryId::random(),
                EntryOp::Visit(Visit {
                    volunteer: f.cast.butler,
                    grid,
                    household,
                    seen: true,
                    health: None,
                    needs: vec![],
                    notes: String::new(),
                    follow_up: None,
                }),
            ),
        )
    };
    let before = visit(&mut butler, T0 + 10 * MIN, household);
    let observed = f
        .state
        .grid(&grid)
        .expect("grid")
        .households
        .live_tags(&household);
    let removal = admin.op(
        T0 + 20 * MIN,
        OpBody::Grid(
            grid,
            GridOp::RemoveHousehold {
                household,
                observed,
            },
        ),
    );
    record(&mut f.state, &removal);
    let after = visit(&mut butler, T0 + 30 * MIN, household);
    assert_eq!(f.state.validate_op(&before), Ok(()));
    assert!(matches!(
        refused(&f.state, &after),
        OpError::UnknownEntity {
            entity: "household",
            ..
        }
    ));
    // The device that has seen the removal refuses even an op its slow clock stamps before it.
    assert!(matches!(
        f.state.validate_local(&before),
        Err(OpError::UnknownEntity {
            entity: "household",
            ..
        })
    ));

    let other = f.cast.households[0][1];
    let early = visit(&mut butler, T0 + 40 * MIN, other);
    let tags = f
        .state
        .grid(&grid)
        .expect("grid")
        .butlers
        .live_tags(&f.cast.butler);
    let leaving = admin.op(
        T0 + 50 * MIN,
        OpBody::Grid(
            grid,
            GridOp::RemoveMember {
                user: f.cast.butler,
                role: MemberRole::Butler,
                observed: tags,
            },
        ),
    );
    record(&mut f.state, &leaving);
    let late = visit(&mut butler, T0 + 60 * MIN, other);
    let judge = |op: &Op| authorize(&f.state, f.butler_phone, f.cast.butler, Role::Volunteer, op);
    assert_eq!(judge(&early), Ok(()));
    assert!(matches!(judge(&late), Err(RightsError::OutOfScope { .. })));
    assert!(matches!(
        authorize_local(
            &f.state,
            f.butler_phone,
            f.cast.butler,
            Role::Volunteer,
            &early
        ),
        Err(RightsError::OutOfScope { .. })
    ));
    // Both kept ops are listed for the cell's grid workers: one for the household, one for the butler.
    let mut reasons: Vec<_> = [before, early]
        .iter()
        .map(|op| {
            record(&mut f.state, op);
            op.body.entity_id()
        })
        .collect();
    reasons.sort();
    let mut listed: Vec<_> = linli_sync_core::review::needs_review(&f.state)
        .into_iter()
        .map(|i| match i.subject {
            linli_sync_core::review::Subject::Visit(e) => e.0,
            linli_sync_core::review::Subject::Ticket(t) => t.0,
        })
        .collect();
    listed.sort();
    assert_eq!(listed, reasons);
}
