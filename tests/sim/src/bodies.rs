//! The community's linked bodies (联动单位), its routing rules and a council decision, written through the admin
//! console as the cooperative's office would, with three complex desk tickets carried through dispatch: one
//! decided by the deliberation clinic and completed by the law enforcement bureau, one accepted by the water
//! company, one sent to the police station and reassigned. Every ticket's final status goes into the model.

use linli_sync_core::prelude::{
    AgencyCreate, AgencyId, AgencyKind, AgencyOp, AgencyStep, Channel, Complexity, Council,
    DecisionId, DecisionOp, DecisionRecord, Handler, Location, Note, OpBody, Reporter, RequestType,
    RouteId, RouteOp, RouteSet, Status, TicketCreate, TicketId, TicketOp,
};

use crate::model::Model;
use crate::world::World;

const MINUTE: u64 = 60_000;

/// The pilot's seven linked bodies: name, kind, contact role (a role, never a person) and the categories each
/// handles.
pub const BODIES: [(&str, AgencyKind, &str, &[&str]); 7] = [
    (
        "综合行政执法局",
        AgencyKind::LawEnforcement,
        "执法队值班",
        &["illegal_construction", "street_vending"],
    ),
    (
        "城东派出所",
        AgencyKind::Police,
        "社区民警值班",
        &["parking", "public_order"],
    ),
    (
        "区住建委",
        AgencyKind::Government,
        "物业管理科",
        &["building_safety", "maintenance_fund"],
    ),
    (
        "自来水公司",
        AgencyKind::Utility,
        "抢修调度",
        &["water_leak", "water_pressure"],
    ),
    ("供电所", AgencyKind::Utility, "台区经理", &["power_outage"]),
    (
        "物业维修公司",
        AgencyKind::Firm,
        "维修班组长",
        &["downpipe", "railing", "barrier_gate"],
    ),
    (
        "社区社会组织联合会",
        AgencyKind::SocialOrg,
        "秘书处",
        &["dispute", "elderly_care"],
    ),
];

/// What was written: the bodies (in [`BODIES`] order), the decision and the tickets.
#[derive(Debug)]
pub struct Seeded {
    /// The linked bodies.
    pub agencies: Vec<AgencyId>,
    /// The deliberation clinic's decision.
    pub decision: DecisionId,
    /// The complex tickets dispatched, with the status each ends in.
    pub tickets: Vec<(TicketId, Status)>,
}

/// One complex desk ticket of the seeding: its category, grid cell (index) and description, its steps (each with
/// its delay after the creation) and the status they leave it in.
struct Plan {
    category: &'static str,
    cell: usize,
    description: &'static str,
    steps: Vec<(u64, TicketOp)>,
    ends_in: Status,
}

/// Writes the bodies, three routing rules, the decision and three dispatched tickets at `now` (the tickets' steps
/// a few minutes apart, all within the server's drift bound), and records the tickets' statuses in `model`.
/// `date` is today's local date, `YYYY-MM-DD`.
pub fn seed(world: &mut World, model: &mut Model, now: u64, date: &str) -> Seeded {
    let agencies: Vec<AgencyId> = BODIES.iter().map(|_| AgencyId::random()).collect();
    let mut timed: Vec<(u64, OpBody)> = BODIES
        .iter()
        .zip(&agencies)
        .map(|((name, kind, role, categories), id)| {
            (
                now,
                OpBody::Agency(
                    *id,
                    AgencyOp::Create(AgencyCreate {
                        name: (*name).into(),
                        kind: *kind,
                        contact_role: (*role).into(),
                        categories: categories.iter().map(|c| (*c).to_string()).collect(),
                    }),
                ),
            )
        })
        .collect();
    let [enforcement, police, _, water, power, repairs, _] = agencies[..] else {
        unreachable!("seven bodies")
    };
    // Routing: water pressure, power cuts and downpipes go to their bodies community-wide; parking in the first
    // cell to its grid worker.
    let first_worker = world.user(world.cells[0].workers[0]);
    for (category, grid, to) in [
        ("water_pressure", None, Handler::Agency(water)),
        ("power_outage", None, Handler::Agency(power)),
        ("downpipe", None, Handler::Agency(repairs)),
        (
            "parking",
            Some(world.cells[0].id),
            Handler::User(first_worker),
        ),
    ] {
        timed.push((
            now,
            OpBody::Route(
                RouteId::random(),
                RouteOp::Set(RouteSet {
                    category: category.into(),
                    grid,
                    to: Some(to),
                }),
            ),
        ));
    }
    let decision = DecisionId::random();
    timed.push((
        now,
        OpBody::Decision(
            decision,
            DecisionOp::Record(DecisionRecord {
                date: date.into(),
                council: Council::DeliberationClinic,
                council_name: "幸福里社区议事门诊".into(),
                text: "3号楼北侧违建由综合行政执法局依法拆除，物业服务社清运垃圾并恢复绿地".into(),
            }),
        ),
    ));

    let step = |agency| AgencyStep {
        agency,
        note: Some("已联系单位值班人员".into()),
        public: true,
    };
    let note = |text: &str| Note {
        note: Some(text.into()),
        public: true,
    };
    let plans = [
        // Decided by the clinic, dispatched to law enforcement, accepted and completed.
        Plan {
            category: "illegal_construction",
            cell: 0,
            description: "3号楼北侧私搭乱建",
            steps: vec![
                (MINUTE, TicketOp::Take(Note::default())),
                (2 * MINUTE, TicketOp::Decide { decision }),
                (3 * MINUTE, TicketOp::Dispatch(step(enforcement))),
                (4 * MINUTE, TicketOp::AgencyAccept(step(enforcement))),
                (7 * MINUTE, TicketOp::AgencyComplete(step(enforcement))),
            ],
            ends_in: Status::Solved,
        },
        // A plan, then the water company: accepted, at work.
        Plan {
            category: "water_pressure",
            cell: 1,
            description: "6号楼高层水压不足",
            steps: vec![
                (MINUTE, TicketOp::Take(Note::default())),
                (2 * MINUTE, TicketOp::Plan(note("请自来水公司检修加压泵"))),
                (3 * MINUTE, TicketOp::Dispatch(step(water))),
                (5 * MINUTE, TicketOp::AgencyAccept(step(water))),
            ],
            ends_in: Status::WithAgency,
        },
        // Sent to the police station, then reassigned to law enforcement (a shop front, not a traffic matter).
        Plan {
            category: "parking",
            cell: 2,
            description: "商铺占道堆放杂物",
            steps: vec![
                (MINUTE, TicketOp::Take(Note::default())),
                (2 * MINUTE, TicketOp::Dispatch(step(police))),
                (4 * MINUTE, TicketOp::Dispatch(step(enforcement))),
            ],
            ends_in: Status::Dispatched,
        },
    ];
    let mut tickets = Vec::new();
    for Plan {
        category,
        cell,
        description,
        steps,
        ends_in: status,
    } in plans
    {
        let id = TicketId::random();
        timed.push((
            now,
            OpBody::Ticket(
                id,
                TicketOp::Create(TicketCreate {
                    grid: world.cells[cell].id,
                    request_type: RequestType::Complaint,
                    category: category.into(),
                    complexity: Complexity::Complex,
                    location: Location {
                        building: "3".into(),
                        ..Location::default()
                    },
                    description: description.into(),
                    channel: Channel::Desk,
                    reporter: Reporter::default(),
                    from_visit: None,
                }),
            ),
        ));
        timed.extend(
            steps
                .into_iter()
                .map(|(after, op)| (now + after, OpBody::Ticket(id, op))),
        );
        model.tickets.insert(id, status);
        tickets.push((id, status));
    }
    // One writer, one clock: the ops go in time order.
    timed.sort_by_key(|(t, _)| *t);
    world.console.write_at(timed);
    Seeded {
        agencies,
        decision,
        tickets,
    }
}
