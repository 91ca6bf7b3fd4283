//! The authorisation matrix: every role × every op kind × inside / outside the user's scope, pushed over HTTP,
//! with the exact expected answer. "Inside" is grid cell g1 (where the grid worker works and the volunteer
//! visits) and the user's own entries and raised tickets; "outside" is grid cell g2 and other people's entries.
//! The expectations are written out here as the specification, not computed from the code under test.
//!
//! Linked bodies, council decisions and routing rules belong to the community, not to a grid cell: for them
//! "inside" and "outside" differ only in the grid cell a routing rule names, and the answer is the same.

use linli_sync_core::prelude::*;
use reqwest::StatusCode;

use crate::common::{Device, TestApp, World, activity, ticket_create, visit};

/// The answer the specification demands.
fn expected(role: Role, kind: OpKind, inside: bool) -> &'static str {
    use OpKind as K;
    let scoped = if inside { "ok" } else { "out_of_scope" };
    match role {
        Role::Admin => match kind {
            // The server holds the card pool; a device can only spend rights it was granted, and none were.
            K::CardTransfer | K::CardRedeem => "insufficient_rights",
            _ => "ok",
        },
        Role::GridWorker => match kind {
            K::GridCreate
            | K::GridRename
            | K::GridAddMember
            | K::GridRemoveMember
            | K::CardTransfer
            | K::CardRedeem
            | K::AgencyCreate
            | K::AgencyEdit
            | K::RouteSet => "role_forbidden",
            // A council serves the whole community.
            K::DecisionRecord | K::DecisionEdit => "ok",
            _ => scoped,
        },
        Role::Volunteer => match kind {
            // A volunteer logs service activities wherever they gave them.
            K::EntryActivity => "ok",
            K::EntryVisit | K::EntryVoid | K::TicketCreate | K::TicketComment => scoped,
            _ => "role_forbidden",
        },
    }
}

/// Pushes the prerequisites (as the admin, or as the user where the rule is about their own data) and returns
/// the op under test, written by `d`.
async fn build(app: &TestApp, w: &mut World, who: Role, kind: OpKind, inside: bool) -> Op {
    use OpKind as K;
    let g = if inside { w.g1 } else { w.g2 };
    let h = w.household(g);
    let butler = w.butler.user;
    let admin_user = w.admin.user;
    let ticket = TicketId::random();
    let entry = EntryId::random();
    let needs_ticket = kind.entity() == EntityKind::Ticket && kind != K::TicketCreate;
    if needs_ticket {
        // A volunteer may comment only on tickets they raised: inside, they raised it.
        let raiser = if who == Role::Volunteer && inside {
            Role::Volunteer
        } else {
            Role::Admin
        };
        let create = device(w, raiser).op(OpBody::Ticket(ticket, ticket_create(g)));
        app.push_ok(device(w, raiser), &[create]).await;
    }
    let mut approval = OpId::random();
    let (removed_household, removed_user) = (HouseholdId::random(), UserId::random());
    let mut added = vec![OpId::random()];
    // A linked body and a council decision for the ops that name one, and the ticket dispatched to the body for
    // the body's acceptance and completion.
    let (agency, decision) = (AgencyId::random(), DecisionId::random());
    let linked = matches!(
        kind,
        K::TicketDispatch
            | K::TicketAgencyAccept
            | K::TicketAgencyComplete
            | K::TicketDecide
            | K::AgencyEdit
            | K::DecisionEdit
    );
    if linked {
        let mut ops = vec![
            w.admin.op(OpBody::Agency(
                agency,
                AgencyOp::Create(AgencyCreate {
                    name: "综合行政执法局".into(),
                    kind: AgencyKind::LawEnforcement,
                    contact_role: "执法队值班".into(),
                    categories: vec!["street_vending".into()],
                }),
            )),
            w.admin.op(OpBody::Decision(
                decision,
                DecisionOp::Record(DecisionRecord {
                    date: "2026-11-27".into(),
                    council: Council::ResidentsCouncil,
                    council_name: "3号楼居民议事会".into(),
                    text: "更换立管".into(),
                }),
            )),
        ];
        if matches!(kind, K::TicketAgencyAccept | K::TicketAgencyComplete) {
            ops.push(w.admin.op(OpBody::Ticket(
                ticket,
                TicketOp::Dispatch(AgencyStep {
                    agency,
                    note: None,
                    public: false,
                }),
            )));
        }
        app.push_ok(&w.admin, &ops).await;
    }
    match kind {
        K::EntryApprove | K::EntryReject | K::CardCredit => {
            let a = w
                .admin
                .op(OpBody::Entry(entry, EntryOp::Activity(activity(butler, g))));
            let ok = w
                .admin
                .op(OpBody::Entry(entry, EntryOp::Approve(Reason::default())));
            approval = ok.id;
            let ops = if kind == K::CardCredit {
                vec![a, ok]
            } else {
                vec![a]
            };
            app.push_ok(&w.admin, &ops).await;
        }
        K::EntryVoid => {
            let owner = if inside {
                device(w, who).user
            } else {
                admin_user
            };
            let a = w
                .admin
                .op(OpBody::Entry(entry, EntryOp::Activity(activity(owner, g))));
            app.push_ok(&w.admin, &[a]).await;
        }
        // A remove must name add ops of what it removes: the admin adds it first.
        K::GridRemoveHousehold | K::GridRemoveMember | K::GridUnassignVisit => {
            let add = match kind {
                K::GridRemoveHousehold => GridOp::AddHousehold {
                    household: removed_household,
                    details: Household {
                        building: "6".into(),
                        unit: "1".into(),
                        room: "301".into(),
                        elderly_alone: false,
                        contact_name: None,
                    },
                },
                K::GridRemoveMember => GridOp::AddMember {
                    user: removed_user,
                    role: MemberRole::Butler,
                },
                _ => GridOp::AssignVisit {
                    household: h,
                    butler: removed_user,
                },
            };
            let add = w.admin.op(OpBody::Grid(g, add));
            added = vec![add.id];
            app.push_ok(&w.admin, &[add]).await;
        }
        _ => {}
    }
    let d = device(w, who);
    let me = d.user;
    let note = || Note {
        note: Some("plan agreed with the residents' council".into()),
        public: false,
    };
    let body = match kind {
        K::TicketCreate => OpBody::Ticket(ticket, ticket_create(g)),
        K::TicketEdit => OpBody::Ticket(
            ticket,
            TicketOp::Edit(TicketEdit {
                category: Some("railing".into()),
                ..TicketEdit::default()
            }),
        ),
        K::TicketAssign => OpBody::Ticket(ticket, TicketOp::Assign { user: me }),
        K::TicketUnassign => OpBody::Ticket(
            ticket,
            TicketOp::Unassign {
                user: me,
                observed: vec![OpId::random()],
            },
        ),
        K::TicketComment => OpBody::Ticket(
            ticket,
            TicketOp::Comment {
                text: "on my way".into(),
                public: false,
            },
        ),
        K::TicketTake => OpBody::Ticket(ticket, TicketOp::Take(Note::default())),
        K::TicketArrive => OpBody::Ticket(ticket, TicketOp::Arrive(Note::default())),
        K::TicketSolve => OpBody::Ticket(ticket, TicketOp::Solve(Note::default())),
        K::TicketPlan => OpBody::Ticket(ticket, TicketOp::Plan(note())),
        K::TicketAnswer => OpBody::Ticket(ticket, TicketOp::Answer(note())),
        K::TicketRate => OpBody::Ticket(
            ticket,
            TicketOp::Rate(Rating {
                satisfaction: 5,
                note: None,
            }),
        ),
        K::TicketReopen => OpBody::Ticket(ticket, TicketOp::Reopen(Note::default())),
        K::TicketSendBack => OpBody::Ticket(ticket, TicketOp::SendBack(Note::default())),
        K::TicketClose => OpBody::Ticket(ticket, TicketOp::Close(Note::default())),
        K::TicketDispatch | K::TicketAgencyAccept | K::TicketAgencyComplete => {
            let step = AgencyStep {
                agency,
                note: Some("转执法队".into()),
                public: true,
            };
            OpBody::Ticket(
                ticket,
                match kind {
                    K::TicketDispatch => TicketOp::Dispatch(step),
                    K::TicketAgencyAccept => TicketOp::AgencyAccept(step),
                    _ => TicketOp::AgencyComplete(step),
                },
            )
        }
        K::TicketDecide => OpBody::Ticket(ticket, TicketOp::Decide { decision }),
        K::AgencyCreate => OpBody::Agency(
            AgencyId::random(),
            AgencyOp::Create(AgencyCreate {
                name: "城东派出所".into(),
                kind: AgencyKind::Police,
                contact_role: "社区民警".into(),
                categories: vec!["dispute".into()],
            }),
        ),
        K::AgencyEdit => OpBody::Agency(
            agency,
            AgencyOp::Edit(AgencyEdit {
                contact_role: Some("城东中队值班".into()),
                ..AgencyEdit::default()
            }),
        ),
        K::DecisionRecord => OpBody::Decision(
            DecisionId::random(),
            DecisionOp::Record(DecisionRecord {
                date: "2026-11-28".into(),
                council: Council::DeliberationClinic,
                council_name: "议事门诊".into(),
                text: "增设25个停车位".into(),
            }),
        ),
        K::DecisionEdit => OpBody::Decision(
            decision,
            DecisionOp::Edit(DecisionEdit {
                text: Some("更换3号楼2单元立管".into()),
                ..DecisionEdit::default()
            }),
        ),
        K::RouteSet => OpBody::Route(
            RouteId::random(),
            RouteOp::Set(RouteSet {
                category: "street_vending".into(),
                grid: Some(g),
                to: Some(Handler::User(admin_user)),
            }),
        ),
        K::GridCreate => OpBody::Grid(
            GridId::random(),
            GridOp::Create {
                name: "第八网格".into(),
                community: "幸福里社区".into(),
            },
        ),
        K::GridRename => OpBody::Grid(
            g,
            GridOp::Rename {
                name: "新名字".into(),
            },
        ),
        K::GridAddHousehold => OpBody::Grid(
            g,
            GridOp::AddHousehold {
                household: HouseholdId::random(),
                details: Household {
                    building: "5".into(),
                    unit: "1".into(),
                    room: "102".into(),
                    elderly_alone: false,
                    contact_name: None,
                },
            },
        ),
        K::GridRemoveHousehold => OpBody::Grid(
            g,
            GridOp::RemoveHousehold {
                household: removed_household,
                observed: added,
            },
        ),
        K::GridAddMember => OpBody::Grid(
            g,
            GridOp::AddMember {
                user: UserId::random(),
                role: MemberRole::Butler,
            },
        ),
        K::GridRemoveMember => OpBody::Grid(
            g,
            GridOp::RemoveMember {
                user: removed_user,
                role: MemberRole::Butler,
                observed: added,
            },
        ),
        K::GridAssignVisit => OpBody::Grid(
            g,
            GridOp::AssignVisit {
                household: h,
                butler: UserId::random(),
            },
        ),
        K::GridUnassignVisit => OpBody::Grid(
            g,
            GridOp::UnassignVisit {
                household: h,
                butler: removed_user,
                observed: added,
            },
        ),
        K::EntryVisit => OpBody::Entry(entry, EntryOp::Visit(visit(me, g, h))),
        K::EntryActivity => OpBody::Entry(entry, EntryOp::Activity(activity(me, g))),
        K::EntryApprove => OpBody::Entry(entry, EntryOp::Approve(Reason::default())),
        K::EntryReject => OpBody::Entry(
            entry,
            EntryOp::Reject(Reason {
                reason: Some("hours do not match the roster".into()),
            }),
        ),
        K::EntryVoid => OpBody::Entry(
            entry,
            EntryOp::Void(Reason {
                reason: Some("logged twice".into()),
            }),
        ),
        K::CardCredit => OpBody::Card(
            butler,
            CardOp::Credit {
                entry,
                approval,
                minutes: 59,
                points: Points(9),
            },
        ),
        K::CardTransfer => OpBody::Card(
            butler,
            CardOp::Transfer {
                to: ReplicaId::random(),
                points: Points(1),
                seq: 1,
            },
        ),
        K::CardRedeem => OpBody::Card(
            butler,
            CardOp::Redeem {
                points: Points(1),
                seq: 1,
                purpose: Purpose::Goods {
                    item: "rice".into(),
                },
            },
        ),
    };
    let op = d.op(body);
    assert_eq!(op.kind(), kind);
    op
}

fn device(w: &mut World, role: Role) -> &mut Device {
    match role {
        Role::Admin => &mut w.admin,
        Role::GridWorker => &mut w.worker,
        Role::Volunteer => &mut w.butler,
    }
}

#[actix_web::test]
async fn every_role_times_every_op_kind_inside_and_outside_scope() {
    let app = TestApp::spawn().await;
    let mut w = World::build(&app).await;
    let mut failures = Vec::new();
    let mut cases = 0;
    for role in Role::ALL {
        for &kind in OpKind::ALL {
            for inside in [true, false] {
                cases += 1;
                let op = build(&app, &mut w, role, kind, inside).await;
                let want = expected(role, kind, inside);
                let before = app.fingerprint();
                let reply = app
                    .push(device(&mut w, role), std::slice::from_ref(&op))
                    .await;
                let got = if reply.status == StatusCode::OK {
                    "ok".to_string()
                } else {
                    reply.code().to_string()
                };
                let status_ok = match want {
                    "ok" => reply.status == StatusCode::OK,
                    "insufficient_rights" => reply.status == StatusCode::UNPROCESSABLE_ENTITY,
                    _ => reply.status == StatusCode::FORBIDDEN,
                };
                let stored = app.copies(op.id);
                let effect_ok = if want == "ok" {
                    stored == 1
                } else {
                    stored == 0 && app.fingerprint() == before
                };
                if got != want || !status_ok || !effect_ok {
                    failures.push(format!(
                        "{role} {kind} {}: want {want}, got {got} ({}) stored {stored}: {}",
                        if inside { "inside" } else { "outside" },
                        reply.status,
                        reply.body["detail"]
                    ));
                }
            }
        }
    }
    assert_eq!(cases, 3 * OpKind::ALL.len() * 2);
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
