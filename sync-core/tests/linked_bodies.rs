//! Linked bodies, dispatch, council decisions, routing rules and public notes (issue 13): the typed refusals of
//! validation and rights, and the properties of the merge rules that the general convergence properties do not
//! single out — the current agency after concurrent dispatches, the precedence of routing rules, and that a
//! resident's view never holds an internal note.

use linli_sync_core::prelude::*;
use linli_sync_core::rights::{RightsError, Viewer};
use linli_sync_core::test_support::{Cast, History, T0, delivery, history};
use linli_sync_core::ticket::{EventKind, transition_allowed};
use proptest::prelude::*;

const MIN: u64 = 60_000;

fn base() -> (Cast, State) {
    let h = History::simulate(2, &[]);
    let mut state = State::new(Rules::DEFAULT);
    for op in &h.ops {
        state.apply(op);
    }
    (h.cast, state)
}

fn writer(user: UserId, salt: u16) -> Writer {
    Writer::deterministic(
        ReplicaId::random(),
        user,
        HlcClock::new(DriftPolicy::DEFAULT),
        salt,
    )
}

/// Validates then applies, as a server does; panics on refusal.
fn record(state: &mut State, op: &Op) {
    state
        .validate_op(op)
        .unwrap_or_else(|e| panic!("{}: {e}", op.kind()));
    state.apply(op);
}

fn refused(state: &State, op: &Op) -> OpError {
    state.validate_op(op).expect_err("must be refused")
}

fn agency_create(name: &str) -> AgencyOp {
    AgencyOp::Create(AgencyCreate {
        name: name.into(),
        kind: AgencyKind::LawEnforcement,
        contact_role: "执法队值班".into(),
        categories: vec!["street_vending".into()],
    })
}

fn decision_record(date: &str) -> DecisionOp {
    DecisionOp::Record(DecisionRecord {
        date: date.into(),
        council: Council::ResidentsCouncil,
        council_name: "3号楼居民议事会".into(),
        text: "更换立管".into(),
    })
}

fn step(agency: AgencyId) -> AgencyStep {
    AgencyStep {
        agency,
        note: None,
        public: false,
    }
}

fn ticket_create(grid: GridId, category: &str) -> TicketOp {
    TicketOp::Create(TicketCreate {
        grid,
        request_type: RequestType::Complaint,
        category: category.into(),
        complexity: Complexity::Small,
        location: Location {
            building: "3".into(),
            ..Location::default()
        },
        description: "占道经营".into(),
        channel: Channel::Desk,
        reporter: Reporter::default(),
        from_visit: None,
    })
}

/// A state with one agency, one decision and one ticket in grid 0; returns their ids.
fn with_ticket(
    cast: &Cast,
    state: &mut State,
    admin: &mut Writer,
) -> (AgencyId, DecisionId, TicketId) {
    let (agency, decision, ticket) = (AgencyId::random(), DecisionId::random(), TicketId::random());
    for body in [
        OpBody::Agency(agency, agency_create("综合行政执法局")),
        OpBody::Decision(decision, decision_record("2026-11-27")),
        OpBody::Ticket(ticket, ticket_create(cast.grids[0], "street_vending")),
    ] {
        let op = admin.op(T0 + MIN, body);
        record(state, &op);
    }
    (agency, decision, ticket)
}

#[test]
fn dispatch_steps_must_name_known_bodies_and_the_current_one() {
    let (cast, mut state) = base();
    let mut admin = writer(cast.admin, 1);
    let (agency, decision, ticket) = with_ticket(&cast, &mut state, &mut admin);
    let stranger = AgencyId::random();
    let t = |op| OpBody::Ticket(ticket, op);

    let op = admin.op(T0 + 2 * MIN, t(TicketOp::Dispatch(step(stranger))));
    assert_eq!(
        refused(&state, &op),
        OpError::UnknownEntity {
            entity: "agency",
            id: stranger.to_string()
        }
    );
    // Accepting before any dispatch: the body is known, but the ticket is not with it.
    let op = admin.op(T0 + 2 * MIN, t(TicketOp::AgencyAccept(step(agency))));
    assert!(matches!(
        refused(&state, &op),
        OpError::InvalidField {
            field: "agency",
            ..
        }
    ));
    let op = admin.op(
        T0 + 2 * MIN,
        t(TicketOp::Decide {
            decision: DecisionId::random(),
        }),
    );
    assert!(matches!(
        refused(&state, &op),
        OpError::UnknownEntity {
            entity: "decision",
            ..
        }
    ));

    let other = AgencyId::random();
    let op = admin.op(
        T0 + 2 * MIN,
        OpBody::Agency(other, agency_create("城东派出所")),
    );
    record(&mut state, &op);
    let op = admin.op(T0 + 3 * MIN, t(TicketOp::Dispatch(step(agency))));
    record(&mut state, &op);
    // The other body is known but the ticket is not dispatched to it.
    let op = admin.op(T0 + 4 * MIN, t(TicketOp::AgencyComplete(step(other))));
    assert!(matches!(
        refused(&state, &op),
        OpError::InvalidField {
            field: "agency",
            ..
        }
    ));
    let accept = admin.op(T0 + 5 * MIN, t(TicketOp::AgencyAccept(step(agency))));
    // A reassignment stamped after the acceptance reaches the server first: the acceptance, written for the body
    // the ticket was with when it was written, is still accepted (judged as of its stamp).
    let mut late = writer(cast.admin, 9);
    let reassign = late.op(T0 + 6 * MIN, t(TicketOp::Dispatch(step(other))));
    record(&mut state, &reassign);
    record(&mut state, &accept);
    assert_eq!(state.ticket(&ticket).and_then(|t| t.agency()), Some(other));
    // A phone that has not seen the reassignment records the first body's completion offline, stamped after
    // it: stored whichever reaches the server first (review of issue 13), as the report attributes it to the body
    // it names. A body the ticket was never dispatched to is still refused.
    let stale = admin.op(T0 + 7 * MIN, t(TicketOp::AgencyComplete(step(agency))));
    record(&mut state, &stale);
    let never = AgencyId::random();
    let create_never = admin.op(
        T0 + 7 * MIN + 1,
        OpBody::Agency(never, agency_create("供电所")),
    );
    record(&mut state, &create_never);
    let op = admin.op(T0 + 7 * MIN + 2, t(TicketOp::AgencyAccept(step(never))));
    assert!(matches!(
        refused(&state, &op),
        OpError::InvalidField {
            field: "agency",
            ..
        }
    ));
    assert_eq!(state.ticket(&ticket).and_then(|t| t.agency()), Some(other));
    let op = admin.op(T0 + 7 * MIN, t(TicketOp::AgencyAccept(step(other))));
    record(&mut state, &op);
    let op = admin.op(T0 + 8 * MIN, t(TicketOp::Decide { decision }));
    record(&mut state, &op);
    assert_eq!(state.tickets_decided_by(&decision), vec![ticket]);
    let t = state.ticket(&ticket).expect("ticket");
    assert_eq!(t.status(), Status::Planned);
    assert_eq!(t.effective_complexity(), Complexity::Complex);
}

#[test]
fn agencies_decisions_and_routes_refuse_what_breaks_their_rules() {
    let (cast, mut state) = base();
    let mut admin = writer(cast.admin, 1);
    let agency = AgencyId::random();
    let create = admin.op(
        T0 + MIN,
        OpBody::Agency(agency, agency_create("综合行政执法局")),
    );
    record(&mut state, &create);
    // The same op again is a retry; another create of the id is refused.
    assert_eq!(state.validate_op(&create), Ok(()));
    let again = admin.op(T0 + 2 * MIN, OpBody::Agency(agency, agency_create("别的")));
    assert_eq!(
        refused(&state, &again),
        OpError::AlreadyExists {
            entity: "agency",
            id: agency.to_string()
        }
    );
    let empty_name = admin.op(
        T0 + 2 * MIN,
        OpBody::Agency(AgencyId::random(), agency_create(" ")),
    );
    assert!(matches!(
        refused(&state, &empty_name),
        OpError::InvalidField { field: "name", .. }
    ));
    let empty_edit = admin.op(
        T0 + 2 * MIN,
        OpBody::Agency(agency, AgencyOp::Edit(AgencyEdit::default())),
    );
    assert!(matches!(
        refused(&state, &empty_edit),
        OpError::InvalidField { field: "body", .. }
    ));
    let unknown_edit = admin.op(
        T0 + 2 * MIN,
        OpBody::Agency(
            AgencyId::random(),
            AgencyOp::Edit(AgencyEdit {
                kind: Some(AgencyKind::Firm),
                ..AgencyEdit::default()
            }),
        ),
    );
    assert!(matches!(
        refused(&state, &unknown_edit),
        OpError::UnknownEntity {
            entity: "agency",
            ..
        }
    ));

    for bad in ["2026-02-30", "2026-11-27 10:00", "27/11/2026"] {
        let op = admin.op(
            T0 + 2 * MIN,
            OpBody::Decision(DecisionId::random(), decision_record(bad)),
        );
        assert!(
            matches!(
                refused(&state, &op),
                OpError::InvalidField { field: "date", .. }
            ),
            "{bad}"
        );
    }
    let decision = DecisionId::random();
    record(
        &mut state,
        &admin.op(
            T0 + 2 * MIN,
            OpBody::Decision(decision, decision_record("2024-02-29")),
        ),
    );
    let bad_edit = admin.op(
        T0 + 3 * MIN,
        OpBody::Decision(
            decision,
            DecisionOp::Edit(DecisionEdit {
                date: Some("2026-13-01".into()),
                ..DecisionEdit::default()
            }),
        ),
    );
    assert!(matches!(
        refused(&state, &bad_edit),
        OpError::InvalidField { field: "date", .. }
    ));

    let route = |category: &str, grid: Option<GridId>, to: Option<Handler>| {
        OpBody::Route(
            RouteId::random(),
            RouteOp::Set(RouteSet {
                category: category.into(),
                grid,
                to,
            }),
        )
    };
    let op = admin.op(T0 + 3 * MIN, route("", None, None));
    assert!(matches!(
        refused(&state, &op),
        OpError::InvalidField {
            field: "category",
            ..
        }
    ));
    let op = admin.op(T0 + 3 * MIN, route("noise", Some(GridId::random()), None));
    assert!(matches!(
        refused(&state, &op),
        OpError::UnknownEntity { entity: "grid", .. }
    ));
    let op = admin.op(
        T0 + 3 * MIN,
        route("noise", None, Some(Handler::Agency(AgencyId::random()))),
    );
    assert!(matches!(
        refused(&state, &op),
        OpError::UnknownEntity {
            entity: "agency",
            ..
        }
    ));
    let op = admin.op(
        T0 + 3 * MIN,
        route("noise", Some(cast.grids[1]), Some(Handler::Agency(agency))),
    );
    record(&mut state, &op);
}

#[test]
fn rights_for_the_new_kinds() {
    let (cast, mut state) = base();
    let mut admin = writer(cast.admin, 1);
    let (agency, decision, ticket) = with_ticket(&cast, &mut state, &mut admin);
    let outside = TicketId::random();
    record(
        &mut state,
        &admin.op(
            T0 + MIN,
            OpBody::Ticket(outside, ticket_create(cast.grids[1], "noise")),
        ),
    );
    let mut worker = writer(cast.worker_a, 2);
    let mut butler = writer(cast.butler, 3);
    let check = |w: &mut Writer, role: Role, body: OpBody| {
        let op = w.op(T0 + 10 * MIN, body);
        authorize(&state, op.replica, op.author, role, &op)
    };
    let forbidden = |role, kind| Err(RightsError::RoleForbidden { role, kind });
    let agency_op = || OpBody::Agency(AgencyId::random(), agency_create("城东派出所"));
    let route_op = || {
        OpBody::Route(
            RouteId::random(),
            RouteOp::Set(RouteSet {
                category: "noise".into(),
                grid: None,
                to: None,
            }),
        )
    };
    let decision_op = || OpBody::Decision(DecisionId::random(), decision_record("2026-11-28"));
    let dispatch = |t| OpBody::Ticket(t, TicketOp::Dispatch(step(agency)));
    let decide = |t| OpBody::Ticket(t, TicketOp::Decide { decision });

    for body in [
        agency_op(),
        route_op(),
        decision_op(),
        dispatch(outside),
        decide(outside),
    ] {
        assert_eq!(check(&mut admin, Role::Admin, body), Ok(()));
    }
    assert_eq!(
        check(&mut worker, Role::GridWorker, agency_op()),
        forbidden(Role::GridWorker, OpKind::AgencyCreate)
    );
    assert_eq!(
        check(&mut worker, Role::GridWorker, route_op()),
        forbidden(Role::GridWorker, OpKind::RouteSet)
    );
    assert_eq!(check(&mut worker, Role::GridWorker, decision_op()), Ok(()));
    assert_eq!(
        check(&mut worker, Role::GridWorker, dispatch(ticket)),
        Ok(())
    );
    assert_eq!(check(&mut worker, Role::GridWorker, decide(ticket)), Ok(()));
    assert!(matches!(
        check(&mut worker, Role::GridWorker, dispatch(outside)),
        Err(RightsError::OutOfScope {
            kind: OpKind::TicketDispatch,
            ..
        })
    ));
    for (body, kind) in [
        (agency_op(), OpKind::AgencyCreate),
        (route_op(), OpKind::RouteSet),
        (decision_op(), OpKind::DecisionRecord),
        (dispatch(ticket), OpKind::TicketDispatch),
        (decide(ticket), OpKind::TicketDecide),
    ] {
        assert_eq!(
            check(&mut butler, Role::Volunteer, body),
            forbidden(Role::Volunteer, kind)
        );
    }

    // A volunteer's comment on a ticket they raised is internal; a public one is refused (staff publish).
    let own = TicketId::random();
    let mut butler_writer = writer(cast.butler, 21);
    let raise = butler_writer.op(
        T0 + 30 * MIN,
        OpBody::Ticket(
            own,
            TicketOp::Create(TicketCreate {
                grid: cast.grids[0],
                request_type: RequestType::Help,
                category: "repair".into(),
                complexity: Complexity::Small,
                location: Location::default(),
                description: "楼道灯坏了".into(),
                channel: Channel::Visit,
                reporter: Reporter::default(),
                from_visit: None,
            }),
        ),
    );
    record(&mut state, &raise);
    for (public, ok) in [(false, true), (true, false)] {
        let op = butler_writer.op(
            T0 + 31 * MIN,
            OpBody::Ticket(
                own,
                TicketOp::Comment {
                    text: "楼道灯还没修".into(),
                    public,
                },
            ),
        );
        assert_eq!(
            authorize(&state, op.replica, cast.butler, Role::Volunteer, &op).is_ok(),
            ok,
            "public: {public}"
        );
    }

    // Every user sees the linked bodies and routing rules, and a snapshot keeps them; council decisions (their
    // text may name a dispute's parties) are staff's: a volunteer neither pulls nor holds them (review of #13).
    let viewer = Viewer {
        user: cast.butler,
        role: Role::Volunteer,
    };
    for kind in [OpKind::AgencyCreate, OpKind::RouteSet] {
        assert!(
            viewer.can_see_parts(&state, kind, agency.0, || None),
            "{kind}"
        );
    }
    assert!(!viewer.can_see_parts(&state, OpKind::DecisionRecord, agency.0, || None));
    let scope = viewer.scope(&state);
    assert_eq!(scope.agencies(), state.agencies());
    assert!(!state.decisions().is_empty());
    assert!(scope.decisions().is_empty());
    let worker = Viewer {
        user: cast.worker_a,
        role: Role::GridWorker,
    };
    assert!(worker.can_see_parts(&state, OpKind::DecisionRecord, agency.0, || None));
    assert_eq!(worker.scope(&state).decisions(), state.decisions());
    assert!(
        scope.ticket(&ticket).is_none(),
        "not a ticket the butler raised"
    );
}

#[test]
fn transitions_of_the_dispatch_steps() {
    let a = step(AgencyId::random());
    let d = TicketOp::Decide {
        decision: DecisionId::random(),
    };
    use Status as S;
    for s in [
        S::Open,
        S::Taken,
        S::OnSite,
        S::Reopened,
        S::SentBack,
        S::Dispatched,
        S::WithAgency,
        S::Planned,
    ] {
        assert!(
            transition_allowed(s, &TicketOp::Dispatch(a.clone())),
            "{s:?}"
        );
    }
    for s in [S::Unknown, S::Solved, S::Answered, S::Closed] {
        assert!(
            !transition_allowed(s, &TicketOp::Dispatch(a.clone())),
            "{s:?}"
        );
    }
    assert!(transition_allowed(
        S::Dispatched,
        &TicketOp::AgencyAccept(a.clone())
    ));
    assert!(!transition_allowed(
        S::WithAgency,
        &TicketOp::AgencyAccept(a.clone())
    ));
    assert!(transition_allowed(
        S::WithAgency,
        &TicketOp::AgencyComplete(a.clone())
    ));
    assert!(transition_allowed(
        S::Dispatched,
        &TicketOp::AgencyComplete(a.clone())
    ));
    assert!(!transition_allowed(S::Open, &TicketOp::AgencyComplete(a)));
    for s in [S::Taken, S::OnSite, S::Dispatched, S::WithAgency] {
        assert!(transition_allowed(s, &d), "{s:?}");
    }
    assert!(!transition_allowed(S::Open, &d));
}

#[test]
fn a_recategorised_ticket_is_routed_anew_without_an_op() {
    let (cast, mut state) = base();
    let mut admin = writer(cast.admin, 1);
    let (agency, _, ticket) = with_ticket(&cast, &mut state, &mut admin);
    let set = |category: &str, grid, to| {
        OpBody::Route(
            RouteId::random(),
            RouteOp::Set(RouteSet {
                category: category.into(),
                grid,
                to: Some(to),
            }),
        )
    };
    for body in [
        set("street_vending", None, Handler::Agency(agency)),
        set("noise", None, Handler::User(cast.worker_b)),
        set("noise", Some(cast.grids[0]), Handler::User(cast.worker_a)),
    ] {
        record(&mut state, &admin.op(T0 + 2 * MIN, body));
    }
    let handler = |s: &State| s.handler_of(s.ticket(&ticket).expect("ticket"));
    assert_eq!(
        handler(&state),
        Responsible::Routed(Handler::Agency(agency))
    );
    let edit = admin.op(
        T0 + 3 * MIN,
        OpBody::Ticket(
            ticket,
            TicketOp::Edit(TicketEdit {
                category: Some("noise".into()),
                ..TicketEdit::default()
            }),
        ),
    );
    record(&mut state, &edit);
    // The grid cell's own rule beats the community-wide one.
    assert_eq!(
        handler(&state),
        Responsible::Routed(Handler::User(cast.worker_a))
    );
    record(
        &mut state,
        &admin.op(
            T0 + 4 * MIN,
            OpBody::Ticket(ticket, TicketOp::Dispatch(step(agency))),
        ),
    );
    assert_eq!(handler(&state), Responsible::Agency(agency));
    record(
        &mut state,
        &admin.op(
            T0 + 5 * MIN,
            OpBody::Ticket(
                ticket,
                TicketOp::Assign {
                    user: cast.worker_a,
                },
            ),
        ),
    );
    assert_eq!(handler(&state), Responsible::Users(vec![cast.worker_a]));
    let other = TicketId::random();
    record(
        &mut state,
        &admin.op(
            T0 + 5 * MIN,
            OpBody::Ticket(other, ticket_create(cast.grids[1], "parking")),
        ),
    );
    assert_eq!(handler(&state), Responsible::Users(vec![cast.worker_a]));
    assert_eq!(
        state.handler_of(state.ticket(&other).expect("other")),
        Responsible::Nobody
    );
}

#[test]
fn old_notes_and_comments_keep_their_bytes() {
    // `public` is absent when false: a body written before the flag existed reads and writes back unchanged.
    let note = serde_json::to_string(&Note {
        note: Some("到场".into()),
        public: false,
    })
    .expect("json");
    assert_eq!(note, r#"{"note":"到场"}"#);
    let public = serde_json::to_string(&Note {
        note: Some("已派单".into()),
        public: true,
    })
    .expect("json");
    assert_eq!(public, r#"{"note":"已派单","public":true}"#);
    let back: Note = serde_json::from_str(r#"{"note":"到场"}"#).expect("reads");
    assert!(!back.public);
}

fn replay<'a>(ops: impl IntoIterator<Item = &'a Op>) -> State {
    let mut s = State::new(Rules::DEFAULT);
    for op in ops {
        s.apply(op);
    }
    s
}

fn history_and_delivery() -> impl Strategy<Value = (History, Vec<usize>)> {
    (2usize..=5)
        .prop_flat_map(|writers| history(writers, 80))
        .prop_flat_map(|h| {
            let n = h.ops.len();
            (Just(h), delivery(n))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Concurrent dispatches (two admins and grid workers dispatching offline) settle on the body of the dispatch
    /// with the greatest stamp, on every replica whatever the delivery.
    #[test]
    fn the_current_agency_is_the_latest_dispatch_whatever_the_delivery((h, order) in history_and_delivery()) {
        let reference = replay(&h.ops);
        let delivered = replay(order.iter().map(|&i| &h.ops[i]));
        for (id, t) in reference.tickets() {
            let latest = h.ops.iter()
                .filter_map(|op| match &op.body {
                    OpBody::Ticket(tid, TicketOp::Dispatch(s)) if tid == id => Some((op.stamp(), s.agency)),
                    _ => None,
                })
                .max_by_key(|(stamp, _)| *stamp)
                .map(|(_, a)| a);
            prop_assert_eq!(t.agency(), latest);
            prop_assert_eq!(delivered.ticket(id).and_then(|t| t.agency()), latest);
            prop_assert_eq!(delivered.handler_of(delivered.ticket(id).expect("ticket")), reference.handler_of(t));
        }
    }

    /// A resident's view never holds an internal note or comment, and holds every public one.
    #[test]
    fn public_updates_hold_public_notes_only((h, _) in history_and_delivery()) {
        let state = replay(&h.ops);
        for t in state.tickets().values() {
            let updates = t.public_updates();
            let public: Vec<&String> = t.timeline().filter(|(_, e)| e.public).filter_map(|(_, e)| e.note.as_ref())
                .chain(t.comments.values().filter(|c| c.public).map(|c| &c.text))
                .collect();
            for u in &updates {
                if let Some(text) = &u.text {
                    prop_assert!(public.contains(&text), "a text that was not public: {}", text);
                    prop_assert!(!text.starts_with("内部"), "an internal note leaked: {}", text);
                }
            }
            prop_assert_eq!(updates.iter().filter(|u| u.text.is_some()).count(), public.len());
            prop_assert_eq!(
                updates.iter().filter(|u| matches!(u.kind, UpdateKind::Event(_))).count(),
                t.events.len()
            );
            prop_assert!(updates.windows(2).all(|w| w[0].stamp < w[1].stamp));
        }
    }

    /// Routing precedence against a model: of the live rules for the category, the grid cell's own beats a
    /// community-wide one, and within a rank the greatest stamp wins; a cleared rule never applies.
    #[test]
    fn routing_follows_its_precedence(
        sets in prop::collection::vec((0u8..3, 0u8..3, 0u8..2, 0u8..4, 0u16..500), 1..30),
        perm in any::<u64>(),
    ) {
        let (cast, mut state) = base();
        let agency = AgencyId::random();
        let mut admin = writer(cast.admin, 1);
        record(&mut state, &admin.op(T0, OpBody::Agency(agency, agency_create("综合行政执法局"))));
        let routes = [RouteId::random(), RouteId::random(), RouteId::random()];
        let categories = ["noise", "parking"];
        let mut ops = Vec::new();
        let mut writers = [writer(cast.admin, 11), writer(cast.office, 12)];
        for (route, grid, category, to, minute) in &sets {
            let w = &mut writers[usize::from(*minute % 2)];
            ops.push(w.op(T0 + u64::from(*minute) * MIN, OpBody::Route(routes[usize::from(*route)], RouteOp::Set(RouteSet {
                category: categories[usize::from(*category)].into(),
                grid: match grid { 0 => None, g => Some(cast.grids[usize::from(*g - 1)]) },
                to: match to { 0 => None, 1 => Some(Handler::User(cast.worker_a)), 2 => Some(Handler::User(cast.worker_b)), _ => Some(Handler::Agency(agency)) },
            }))));
        }
        // Deliver in a shuffled order: the answer must not depend on it.
        let mut order: Vec<usize> = (0..ops.len()).collect();
        let mut x = perm;
        for i in (1..order.len()).rev() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (x >> 33) as usize % (i + 1));
        }
        for &i in &order {
            state.apply(&ops[i]);
        }
        // The model: each route's latest set, then the precedence.
        let mut latest: std::collections::BTreeMap<RouteId, (Stamp, RouteSet)> = Default::default();
        for op in &ops {
            if let OpBody::Route(id, RouteOp::Set(s)) = &op.body
                && latest.get(id).is_none_or(|(st, _)| *st < op.stamp())
            {
                latest.insert(*id, (op.stamp(), s.clone()));
            }
        }
        for category in categories {
            for grid in [None, Some(cast.grids[0]), Some(cast.grids[1])] {
                let pick = |exact: bool| latest.values()
                    .filter(|(_, s)| s.category == category && s.to.is_some())
                    .filter(|(_, s)| if exact { grid.is_some() && s.grid == grid } else { s.grid.is_none() })
                    .max_by_key(|(st, _)| *st)
                    .and_then(|(_, s)| s.to);
                let want = pick(true).or_else(|| pick(false));
                prop_assert_eq!(state.route_for(category, grid), want, "{} {:?}", category, grid);
            }
        }
    }
}

#[test]
fn histories_exercise_dispatch_and_the_community_entities() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(linli_sync_core::test_support::action(), 40..80);
    let (
        mut concurrent_dispatches,
        mut accepts,
        mut completes,
        mut decides,
        mut agencies,
        mut routes,
        mut public,
    ) = (0, 0, 0, 0, 0, 0, 0);
    let mut dispatches = 0;
    let mut racing_writes = 0;
    for i in 0..200 {
        let actions = strategy.new_tree(&mut runner).expect("tree").current();
        let h = History::simulate(2 + i % 4, &actions);
        let s = replay(&h.ops);
        for t in s.tickets().values() {
            let agencies: std::collections::BTreeSet<_> = t
                .timeline()
                .filter(|(_, e)| e.kind == EventKind::Dispatched)
                .filter_map(|(_, e)| e.agency)
                .collect();
            if agencies.len() > 1 {
                concurrent_dispatches += 1;
            }
            public += t
                .public_updates()
                .iter()
                .filter(|u| u.text.is_some())
                .count();
        }
        // Two creates of one linked body, or of one decision, from different replicas: the races the
        // smallest-stamp rule settles.
        let mut creators: std::collections::BTreeMap<
            uuid::Uuid,
            std::collections::BTreeSet<ReplicaId>,
        > = Default::default();
        for op in &h.ops {
            if matches!(
                op.kind(),
                OpKind::AgencyCreate | OpKind::DecisionRecord | OpKind::RouteSet
            ) {
                creators
                    .entry(op.body.entity_id())
                    .or_default()
                    .insert(op.replica);
            }
        }
        racing_writes += creators.values().filter(|r| r.len() > 1).count();
        for op in &h.ops {
            match op.kind() {
                OpKind::TicketDispatch => dispatches += 1,
                OpKind::TicketAgencyAccept => accepts += 1,
                OpKind::TicketAgencyComplete => completes += 1,
                OpKind::TicketDecide => decides += 1,
                OpKind::AgencyCreate | OpKind::AgencyEdit => agencies += 1,
                OpKind::RouteSet => routes += 1,
                _ => {}
            }
        }
    }
    let seen = (
        racing_writes,
        dispatches,
        concurrent_dispatches,
        accepts,
        completes,
        decides,
        agencies,
        routes,
        public,
    );
    println!("{seen:?}");
    assert!(racing_writes > 2, "{seen:?}");
    assert!(dispatches > 50 && concurrent_dispatches > 0, "{seen:?}");
    assert!(accepts > 0 && completes > 0 && decides > 0, "{seen:?}");
    assert!(agencies > 10 && routes > 10 && public > 10, "{seen:?}");
}

/// Found by the Python suite of the phone library: a snapshot written before linked bodies existed (an older
/// server's, or one of a scope with nothing in it) has no `agencies`, `decisions` or `routes`, and a phone must
/// still bootstrap from it.
#[test]
fn a_snapshot_from_before_linked_bodies_still_reads() {
    let (_, state) = base();
    let mut value = serde_json::to_value(&state).expect("json");
    let object = value.as_object_mut().expect("an object");
    for field in ["agencies", "decisions", "routes"] {
        assert!(object.remove(field).is_some(), "{field}");
    }
    let back: State = serde_json::from_value(value).expect("reads");
    assert!(back.agencies().is_empty() && back.decisions().is_empty() && back.routes().is_empty());
    assert_eq!(back.grids(), state.grids());
}
