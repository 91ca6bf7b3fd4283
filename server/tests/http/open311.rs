//! Open311 GeoReport v2 over real HTTP: clients and keys, a request posted, routed to its grid cell and handled
//! through sync, every endpoint in JSON and XML checked against the standard's rules (written below as data),
//! errors in the standard's format, and privacy over every endpoint.

use linli_sync_core::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, World};

/// The resident's personal data used in every request here; no Open311 answer may contain any of it.
const NAME_LAST: &str = "王";
const NAME_FIRST: &str = "秀英";
const PHONE: &str = "13812345678";
const LAT: &str = "39.912345";

struct Open311 {
    app: TestApp,
    world: World,
    key: String,
}

/// The world, with buildings 7 (first cell) and 9 (second cell) in the household register, and a client key.
async fn setup() -> Open311 {
    let app = TestApp::spawn().await;
    let mut world = World::build(&app).await;
    let mut ops = Vec::new();
    for (g, building) in [(world.g1, "7"), (world.g2, "9")] {
        ops.push(world.admin.op(OpBody::Grid(
            g,
            GridOp::AddHousehold {
                household: HouseholdId::random(),
                details: Household {
                    building: building.into(),
                    unit: "1".into(),
                    room: "1203室".into(),
                    elderly_alone: false,
                    contact_name: Some("李大爷".into()),
                },
            },
        )));
    }
    app.push_ok(&world.admin, &ops).await;
    let issued = app
        .post(
            "/v1/open311/clients",
            Some(&app.admin_token),
            json!({"name": "12345 热线"}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{:#}", issued.body);
    let key = issued.body["api_key"].as_str().expect("key").to_string();
    Open311 { app, world, key }
}

impl Open311 {
    async fn form(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let res = self
            .app
            .client
            .post(format!("{}/open311/v2/{path}", self.app.base))
            .form(form)
            .send()
            .await
            .expect("sent");
        read(res).await
    }

    async fn get(&self, path: &str) -> (StatusCode, String, String) {
        let res = self
            .app
            .client
            .get(format!("{}/open311/v2/{path}", self.app.base))
            .send()
            .await
            .expect("sent");
        read(res).await
    }

    async fn get_json(&self, path: &str) -> Value {
        let (status, _, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        serde_json::from_str(&body).expect("json")
    }

    /// Posts a water-leak request in building `building`; returns (id, token).
    async fn file(&self, building: &str) -> (TicketId, String) {
        let (status, _, body) = self
            .form(
                "requests.json",
                &[
                    ("api_key", &self.key),
                    ("service_code", "water_leak"),
                    ("attribute[building]", building),
                    ("attribute[unit]", "2"),
                    ("lat", LAT),
                    ("long", "116.401234"),
                    ("first_name", NAME_FIRST),
                    ("last_name", NAME_LAST),
                    ("phone", PHONE),
                    ("email", "wang@example.cn"),
                    (
                        "description",
                        &format!("楼上漏水，请联系王秀英 {PHONE}，邮箱 wang@example.cn"),
                    ),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        let id = v[0]["service_request_id"].as_str().expect("id");
        let token = v[0]["token"].as_str().expect("token");
        (id.parse().expect("ticket id"), token.to_string())
    }
}

async fn read(res: reqwest::Response) -> (StatusCode, String, String) {
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, res.text().await.expect("body"))
}

// ------------------------------------------------------------------------------------------------------------
// The GeoReport v2 rules, as data: for each answer, its XML root and item element, and each field's requirement.

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A non-empty string.
    Text,
    /// A string, possibly empty, or null.
    OptText,
    /// `true` / `false`.
    Bool,
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// A W3C date-time with an offset.
    Time,
    /// A W3C date-time or null.
    OptTime,
    /// An integer.
    Int,
    /// Null (the field exists, with no value: coordinates never leave the server).
    Null,
}

const SERVICE: &[(&str, Kind)] = &[
    ("service_code", Kind::Text),
    ("service_name", Kind::Text),
    ("description", Kind::OptText),
    ("metadata", Kind::Bool),
    ("type", Kind::OneOf(&["realtime", "batch", "blackbox"])),
    ("keywords", Kind::OptText),
    ("group", Kind::OptText),
];

const REQUEST: &[(&str, Kind)] = &[
    ("service_request_id", Kind::Text),
    ("status", Kind::OneOf(&["open", "closed"])),
    ("status_notes", Kind::OptText),
    ("service_name", Kind::Text),
    ("service_code", Kind::Text),
    ("description", Kind::OptText),
    ("agency_responsible", Kind::OptText),
    ("service_notice", Kind::OptText),
    ("requested_datetime", Kind::Time),
    ("updated_datetime", Kind::Time),
    ("expected_datetime", Kind::OptTime),
    ("address", Kind::OptText),
    ("address_id", Kind::OptText),
    ("zipcode", Kind::OptText),
    ("lat", Kind::Null),
    ("long", Kind::Null),
    ("media_url", Kind::OptText),
];

const ATTRIBUTE: &[(&str, Kind)] = &[
    ("variable", Kind::Bool),
    ("code", Kind::Text),
    (
        "datatype",
        Kind::OneOf(&[
            "string",
            "number",
            "datetime",
            "text",
            "singlevaluelist",
            "multivaluelist",
        ]),
    ),
    ("required", Kind::Bool),
    ("datatype_description", Kind::OptText),
    ("order", Kind::Int),
    ("description", Kind::Text),
];

const UPDATE: &[(&str, Kind)] = &[
    ("update_id", Kind::Text),
    ("service_request_id", Kind::Text),
    (
        "status",
        Kind::OneOf(&[
            "OPEN",
            "CLOSED",
            "FIXED",
            "IN_PROGRESS",
            "ACTION_SCHEDULED",
            "INVESTIGATING",
            "INTERNAL_REFERRAL",
        ]),
    ),
    ("updated_datetime", Kind::Time),
    ("description", Kind::OptText),
];

const ERROR: &[(&str, Kind)] = &[("code", Kind::Int), ("description", Kind::Text)];

fn w3c(s: &str) -> bool {
    // YYYY-MM-DDTHH:MM:SS then Z or ±HH:MM.
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (&s[19..] == "Z"
            || (s.len() == 25
                && matches!(b[19], b'+' | b'-')
                && digits(20..22)
                && b[22] == b':'
                && digits(23..25)))
}

/// Checks one JSON item against `rules`.
#[track_caller]
fn check_json(what: &str, item: &Value, rules: &[(&str, Kind)]) {
    for (field, kind) in rules {
        let v = item
            .get(*field)
            .unwrap_or_else(|| panic!("{what}: no `{field}` in {item:#}"));
        let ok = match kind {
            Kind::Text => v.as_str().is_some_and(|s| !s.is_empty()),
            Kind::OptText => v.is_null() || v.is_string(),
            Kind::Bool => v.is_boolean(),
            Kind::OneOf(values) => v.as_str().is_some_and(|s| values.contains(&s)),
            Kind::Time => v.as_str().is_some_and(w3c),
            Kind::OptTime => v.is_null() || v.as_str().is_some_and(w3c),
            Kind::Int => v.is_i64(),
            Kind::Null => v.is_null(),
        };
        assert!(ok, "{what}: `{field}` breaks {kind:?}: {v}");
    }
}

/// Checks one XML item element against `rules`.
#[track_caller]
fn check_xml(what: &str, item: roxmltree::Node<'_, '_>, rules: &[(&str, Kind)]) {
    for (field, kind) in rules {
        let el = item
            .children()
            .find(|c| c.has_tag_name(*field))
            .unwrap_or_else(|| panic!("{what}: no <{field}>"));
        let text = el.text().unwrap_or("");
        let ok = match kind {
            Kind::Text => !text.is_empty(),
            Kind::OptText => true,
            Kind::Bool => matches!(text, "true" | "false"),
            Kind::OneOf(values) => values.contains(&text),
            Kind::Time => w3c(text),
            Kind::OptTime => text.is_empty() || w3c(text),
            Kind::Int => text.parse::<i64>().is_ok(),
            Kind::Null => text.is_empty(),
        };
        assert!(ok, "{what}: <{field}> breaks {kind:?}: {text:?}");
    }
}

/// Fetches `name` in both formats; checks the XML root, the items against `rules`, the content types, and that
/// both formats hold the same number of items. Returns the JSON.
async fn both(
    t: &Open311,
    name: &str,
    query: &str,
    root: &str,
    item: &str,
    rules: &[(&str, Kind)],
) -> Value {
    let (status, ct, body) = t.get(&format!("{name}.json{query}")).await;
    assert_eq!(status, StatusCode::OK, "{name}.json: {body}");
    assert!(ct.starts_with("application/json"), "{name}: {ct}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let items = v
        .as_array()
        .unwrap_or_else(|| panic!("{name}.json is not an array: {v}"));
    for i in items {
        check_json(name, i, rules);
    }
    let (status, ct, body) = t.get(&format!("{name}.xml{query}")).await;
    assert_eq!(status, StatusCode::OK, "{name}.xml: {body}");
    assert!(ct.starts_with("text/xml"), "{name}: {ct}");
    let doc =
        roxmltree::Document::parse(&body).unwrap_or_else(|e| panic!("{name}.xml: {e}: {body}"));
    assert!(
        doc.root_element().has_tag_name(root),
        "{name}.xml root: {body}"
    );
    let xml_items: Vec<_> = doc
        .root_element()
        .children()
        .filter(|c| c.is_element())
        .collect();
    assert_eq!(xml_items.len(), items.len(), "{name}: json and xml differ");
    for i in xml_items {
        assert!(i.has_tag_name(item), "{name}.xml item: {body}");
        check_xml(name, i, rules);
    }
    v
}

/// The personal data of [`Open311::file`] never appears in `body`.
#[track_caller]
fn assert_private(what: &str, body: &str) {
    for secret in [
        PHONE,
        "王秀英",
        NAME_FIRST,
        LAT,
        "116.401234",
        "wang@example.cn",
        "李大爷",
        "1203室",
    ] {
        assert!(!body.contains(secret), "{what} leaks {secret:?}: {body}");
    }
}

#[actix_web::test]
async fn clients_are_issued_to_admins_listed_without_keys_and_revoked() {
    let t = setup().await;
    let butler = t.app.add_user("o311-butler", Role::Volunteer).await;
    let _ = butler;
    let list = t
        .app
        .get("/v1/open311/clients", Some(&t.app.admin_token))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{:#}", list.body);
    let clients = list.body.as_array().expect("list");
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0]["name"], "12345 热线");
    assert!(
        !list.body.to_string().contains(&t.key),
        "a listed client shows its key"
    );
    assert!(t.key.starts_with("o311_"));
    // A grid worker may not issue keys.
    let worker_login = t
        .app
        .post(
            "/v1/open311/clients",
            Some(&t.world.worker.token),
            json!({"name": "x"}),
        )
        .await;
    worker_login.assert_problem(403, "forbidden");
    t.app
        .post(
            "/v1/open311/clients",
            Some(&t.app.admin_token),
            json!({"name": "  "}),
        )
        .await
        .assert_problem(400, "invalid_request");
    // The key files; revoked, it does not, and revoking twice changes nothing.
    let (id, _) = t.file("7").await;
    let client_id = clients[0]["id"].as_str().expect("id").to_string();
    for _ in 0..2 {
        let revoked = t
            .app
            .post(
                &format!("/v1/open311/clients/{client_id}/revoke"),
                Some(&t.app.admin_token),
                json!({}),
            )
            .await;
        assert_eq!(revoked.status, StatusCode::OK, "{:#}", revoked.body);
        assert!(revoked.body["revoked_ms"].is_i64());
    }
    let (status, _, body) = t
        .form(
            "requests.json",
            &[
                ("api_key", &t.key),
                ("service_code", "water_leak"),
                ("attribute[building]", "7"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    check_json("error", &v[0], ERROR);
    assert_eq!(v[0]["code"], 403);
    // What was filed before stays readable.
    let one = t.get_json(&format!("requests/{id}.json")).await;
    assert_eq!(one[0]["service_request_id"], id.to_string());
    t.app
        .post(
            "/v1/open311/clients/nope/revoke",
            Some(&t.app.admin_token),
            json!({}),
        )
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn a_posted_request_reaches_its_cells_worker_and_shows_their_work() {
    let mut t = setup().await;
    let (id, token) = t.file("7").await;
    // Routed by its building to the first cell: the first cell's worker pulls it, with the category as filed.
    let pulled = t.app.sync(&t.world.worker, 0, &[], None).await;
    assert_eq!(pulled.status, StatusCode::OK, "{:#}", pulled.body);
    let create = pulled.body["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .find(|op| op["entity"] == id.to_string())
        .unwrap_or_else(|| panic!("the worker's pull lacks the request: {:#}", pulled.body))
        .clone();
    assert_eq!(create["kind"], "ticket.create");
    assert_eq!(create["body"]["grid"], t.world.g1.to_string());
    assert_eq!(create["body"]["category"], "water_leak");
    assert_eq!(create["body"]["channel"], "open311");
    assert_eq!(create["replica"], ReplicaId::SERVER.to_string());
    // Internally the ticket keeps who to call back; Open311 never shows it.
    assert_eq!(create["body"]["reporter"]["phone"], PHONE);
    let before = t.get_json(&format!("requests/{id}.json")).await;
    check_json("request", &before[0], REQUEST);
    assert_eq!(before[0]["status"], "open");
    assert_eq!(before[0]["address"], "7号楼");
    assert!(
        before[0]["expected_datetime"].is_null(),
        "not taken yet: {:#}",
        before[0]
    );

    // The worker takes it: the 5-20 deadline is the expected time.
    let taken = t
        .world
        .worker
        .op(OpBody::Ticket(id, TicketOp::Take(Note::default())));
    t.app
        .push_ok(&t.world.worker, std::slice::from_ref(&taken))
        .await;
    let after_take = t.get_json(&format!("requests/{id}.json")).await;
    let expected = linli_reports::calendar::parse_w3c_datetime(
        after_take[0]["expected_datetime"]
            .as_str()
            .expect("expected"),
        480,
    )
    .expect("w3c");
    // Second precision: taken + 5 + 20 minutes, within the second.
    let want = taken.time.wall_ms + 25 * 60_000;
    assert!(
        want.abs_diff(expected) < 1000,
        "expected {expected}, want {want}"
    );
    assert_eq!(after_take[0]["status"], "open");

    // On site and solved: closed, no expected time, and the updates say so in order.
    let ops = vec![
        t.world
            .worker
            .op(OpBody::Ticket(id, TicketOp::Arrive(Note::default()))),
        t.world.worker.op(OpBody::Ticket(
            id,
            TicketOp::Solve(Note {
                note: Some(format!("换了水管，已告知 {PHONE}")),
                public: true,
            }),
        )),
    ];
    t.app.push_ok(&t.world.worker, &ops).await;
    // One comment for the resident, one internal.
    let comments = vec![
        t.world.worker.op(OpBody::Ticket(
            id,
            TicketOp::Comment {
                text: "明天上午复查".into(),
                public: true,
            },
        )),
        t.world.worker.op(OpBody::Ticket(
            id,
            TicketOp::Comment {
                text: "内部：楼上住户不配合".into(),
                public: false,
            },
        )),
    ];
    t.app.push_ok(&t.world.worker, &comments).await;
    let solved = t.get_json(&format!("requests/{id}.json")).await;
    assert_eq!(solved[0]["status"], "closed", "{:#}", solved[0]);
    assert!(solved[0]["expected_datetime"].is_null());
    let updates = t
        .get_json(&format!(
            "servicerequestupdates.json?service_request_id={id}"
        ))
        .await;
    let statuses: Vec<&str> = updates
        .as_array()
        .expect("updates")
        .iter()
        .map(|u| u["status"].as_str().expect("status"))
        .collect();
    // The public comment carries the status before it.
    assert_eq!(
        statuses,
        ["OPEN", "IN_PROGRESS", "IN_PROGRESS", "FIXED", "FIXED"]
    );
    let text = updates.to_string();
    assert_private("updates", &text);
    assert!(
        text.contains("换了水管，已告知 **"),
        "the public note, masked: {text}"
    );
    assert!(text.contains("明天上午复查"), "{text}");
    assert!(
        !text.contains("不配合"),
        "an internal comment leaked: {text}"
    );
    assert!(
        solved[0]["status_notes"]
            .as_str()
            .is_some_and(|n| n.contains("明天上午复查")),
        "{:#}",
        solved[0]
    );

    // "Not fixed": the resident reopens with the request's token; another token, or none, is refused.
    let (status, _, body) = t
        .form(
            "servicerequestupdates.json",
            &[
                ("api_key", &t.key),
                ("service_request_id", &id.to_string()),
                ("status", "OPEN"),
                ("token", "wrong"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, body) = t
        .form(
            "servicerequestupdates.json",
            &[
                ("api_key", &t.key),
                ("service_request_id", &id.to_string()),
                ("status", "OPEN"),
                ("token", &token),
                ("description", "还在漏"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reopened = t.get_json(&format!("requests/{id}.json")).await;
    assert_eq!(reopened[0]["status"], "open");
    // Reopening an open request is refused, and changes nothing.
    let (status, _, body) = t
        .form(
            "servicerequestupdates.json",
            &[
                ("api_key", &t.key),
                ("service_request_id", &id.to_string()),
                ("status", "OPEN"),
                ("token", &token),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // The reopen reaches the worker's next sync.
    let pulled = t.app.sync(&t.world.worker, 0, &[], None).await;
    assert!(
        pulled.body["ops"]
            .as_array()
            .expect("ops")
            .iter()
            .any(|op| op["entity"] == id.to_string() && op["kind"] == "ticket.reopen"),
        "{:#}",
        pulled.body
    );
    // The token finds its request.
    let by_token = t.get_json(&format!("tokens/{token}.json")).await;
    assert_eq!(by_token[0]["service_request_id"], id.to_string());
}

#[actix_web::test]
async fn every_endpoint_keeps_the_standard_in_json_and_xml_and_shows_nothing_personal() {
    let mut t = setup().await;
    let (id, token) = t.file("7").await;
    let (other, _) = t.file("9").await;
    // Staff's own tickets are never shown: one raised on the worker's phone quoting the register, and a
    // micro-butler's follow-up of a door-knock health flag with her visit notes (review of issue 13).
    let (by_phone, by_visit) = (TicketId::random(), TicketId::random());
    let mut quoting = match crate::common::ticket_create(t.world.g1) {
        TicketOp::Create(c) => c,
        _ => unreachable!("a create"),
    };
    quoting.description = "3-2-501 李大爷家漏水，1203室也湿了".into();
    let phone_op = t
        .world
        .worker
        .op(OpBody::Ticket(by_phone, TicketOp::Create(quoting.clone())));
    t.app
        .push_ok(&t.world.worker, std::slice::from_ref(&phone_op))
        .await;
    let mut health = quoting;
    health.category = "health_unwell".into();
    health.channel = Channel::Visit;
    health.description = "李大爷独居，头晕血压高".into();
    let visit_op = t
        .world
        .butler
        .op(OpBody::Ticket(by_visit, TicketOp::Create(health)));
    t.app
        .push_ok(&t.world.butler, std::slice::from_ref(&visit_op))
        .await;
    for staff in [by_phone, by_visit] {
        let (status, _, body) = t.get(&format!("requests/{staff}.json")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let discovery = t.get_json("discovery.json").await;
    assert_eq!(
        discovery["endpoints"][0]["specification"],
        "http://wiki.open311.org/GeoReport_v2"
    );
    let (_, _, xml) = t.get("discovery.xml").await;
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    assert!(doc.root_element().has_tag_name("discovery"));
    let services = both(&t, "services", "", "services", "service", SERVICE).await;
    let codes: Vec<&str> = services
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["service_code"].as_str().expect("code"))
        .collect();
    assert!(codes.contains(&"water_leak"), "{codes:?}");
    assert!(!codes.iter().any(|c| c.starts_with("health_")), "{codes:?}");
    // The definition: each attribute by the rules, the building a list of the register's buildings.
    let def = t.get_json("services/water_leak.json").await;
    assert_eq!(def["service_code"], "water_leak");
    let attributes = def["attributes"].as_array().expect("attributes");
    for a in attributes {
        check_json("attribute", a, ATTRIBUTE);
    }
    let building = attributes
        .iter()
        .find(|a| a["code"] == "building")
        .expect("building");
    assert_eq!(building["required"], true);
    let keys: Vec<&str> = building["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["3", "7", "9"]);
    let (_, _, xml) = t.get("services/water_leak.xml").await;
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    assert!(doc.root_element().has_tag_name("service_definition"));
    let xml_attributes: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("attribute"))
        .collect();
    assert_eq!(xml_attributes.len(), attributes.len());
    for a in xml_attributes {
        check_xml("attribute", a, ATTRIBUTE);
    }
    let requests = both(&t, "requests", "", "service_requests", "request", REQUEST).await;
    assert_eq!(requests.as_array().expect("requests").len(), 2);
    both(
        &t,
        &format!("requests/{id}"),
        "",
        "service_requests",
        "request",
        REQUEST,
    )
    .await;
    both(
        &t,
        "servicerequestupdates",
        "",
        "service_request_updates",
        "request_update",
        UPDATE,
    )
    .await;
    let by_token = both(
        &t,
        &format!("tokens/{token}"),
        "",
        "service_requests",
        "request",
        &[("service_request_id", Kind::Text), ("token", Kind::Text)],
    )
    .await;
    assert_eq!(by_token[0]["service_request_id"], id.to_string());

    // Filters: the id list overrides everything; service codes; statuses; the window.
    let listed = t
        .get_json(&format!(
            "requests.json?service_request_id={other},{id}&service_code=noise"
        ))
        .await;
    assert_eq!(listed.as_array().expect("list").len(), 2);
    assert_eq!(
        t.get_json("requests.json?service_code=noise").await,
        json!([])
    );
    assert_eq!(t.get_json("requests.json?status=closed").await, json!([]));
    assert_eq!(
        t.get_json("requests.json?status=open,closed")
            .await
            .as_array()
            .expect("list")
            .len(),
        2
    );
    assert_eq!(
        t.get_json("requests.json?start_date=2020-01-01T00:00:00Z&end_date=2020-02-01T00:00:00Z")
            .await,
        json!([])
    );

    // Privacy over every endpoint and format.
    for path in [
        "discovery",
        "services",
        "services/water_leak",
        "requests",
        &format!("requests/{id}"),
        &format!("tokens/{token}"),
        "servicerequestupdates",
    ] {
        for ext in ["json", "xml"] {
            let (status, _, body) = t.get(&format!("{path}.{ext}")).await;
            assert_eq!(status, StatusCode::OK, "{path}.{ext}: {body}");
            assert_private(&format!("{path}.{ext}"), &body);
        }
    }
    // The description keeps the resident's words, masked.
    let one = t.get_json(&format!("requests/{id}.json")).await;
    assert_eq!(one[0]["description"], "楼上漏水，请联系** **，邮箱 ***");
}

#[actix_web::test]
async fn bad_requests_get_the_standards_errors_and_change_nothing() {
    let t = setup().await;
    let (id, _) = t.file("7").await;
    let before = t.app.fingerprint();
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, StatusCode);
    let cases: Vec<Case<'_>> = vec![
        (
            "requests.json",
            vec![("service_code", "water_leak"), ("attribute[building]", "7")],
            StatusCode::FORBIDDEN,
        ),
        (
            "requests.xml",
            vec![("api_key", "o311_forged"), ("service_code", "water_leak")],
            StatusCode::FORBIDDEN,
        ),
        (
            "requests.json",
            vec![("api_key", &t.key)],
            StatusCode::BAD_REQUEST,
        ),
        (
            "requests.json",
            vec![("api_key", &t.key), ("service_code", "no_such")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "requests.json",
            vec![("api_key", &t.key), ("service_code", "water_leak")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "requests.json",
            vec![
                ("api_key", &t.key),
                ("service_code", "water_leak"),
                ("attribute[building]", "42"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            "requests.json",
            vec![
                ("api_key", &t.key),
                ("service_code", "water_leak"),
                ("attribute[building]", "7"),
                ("lat", "north"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            "requests.json",
            vec![
                ("api_key", &t.key),
                ("service_code", "water_leak"),
                ("attribute[building]", "7"),
                ("attribute[urgency]", "panic"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            "requests.json",
            vec![
                ("api_key", &t.key),
                ("service_code", "water_leak"),
                ("attribute[building]", "7"),
                ("jurisdiction_id", "2"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            "servicerequestupdates.json",
            vec![("api_key", &t.key), ("status", "OPEN")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "nothing.json",
            vec![("api_key", &t.key)],
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, form, want) in &cases {
        let (status, ct, body) = t.form(path, form).await;
        assert_eq!(status, *want, "{path} {form:?}: {body}");
        if path.ends_with(".xml") {
            let doc = roxmltree::Document::parse(&body).expect("xml");
            assert!(doc.root_element().has_tag_name("errors"), "{body}");
            let e = doc
                .root_element()
                .children()
                .find(|c| c.has_tag_name("error"))
                .expect("error");
            check_xml("error", e, ERROR);
        } else {
            assert!(ct.starts_with("application/json"), "{ct}");
            let v: Value = serde_json::from_str(&body).expect("json");
            check_json("error", &v[0], ERROR);
            assert_eq!(v[0]["code"], want.as_u16());
        }
    }
    for (path, want) in [
        ("services/no_such.json", StatusCode::NOT_FOUND),
        ("requests/not-an-id.json", StatusCode::NOT_FOUND),
        (
            &format!("requests/{}.json", TicketId::random()),
            StatusCode::NOT_FOUND,
        ),
        ("tokens/nope.json", StatusCode::NOT_FOUND),
        (
            "requests.json?start_date=yesterday",
            StatusCode::BAD_REQUEST,
        ),
        (
            "requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
        ),
        ("requests.json?status=pending", StatusCode::BAD_REQUEST),
        (
            "requests.json?service_request_id=x",
            StatusCode::BAD_REQUEST,
        ),
        ("requests.json?jurisdiction_id=99", StatusCode::NOT_FOUND),
        ("services.csv", StatusCode::NOT_FOUND),
    ] {
        let (status, _, body) = t.get(path).await;
        assert_eq!(status, want, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        check_json("error", &v[0], ERROR);
    }
    assert_eq!(
        t.app.fingerprint(),
        before,
        "a refused request changed what is stored"
    );
    let one = t.get_json(&format!("requests/{id}.json")).await;
    assert_eq!(one[0]["status"], "open");
}

#[actix_web::test]
async fn with_several_communities_the_jurisdiction_is_named() {
    let t = setup().await;
    // The operator creates a district admin from the command line; here straight in the database.
    let hash = linli_server::password::hash_now("district password").expect("hash");
    linli_server::identity::add_user(
        &mut t.app.db(),
        "district",
        Role::Admin,
        None,
        Some(&hash),
        0,
    )
    .expect("district admin");
    let login = t
        .app
        .post(
            "/v1/auth/login",
            None,
            json!({"username": "district", "password": "district password"}),
        )
        .await;
    let district = login.body["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let made = t
        .app
        .post(
            "/v1/communities",
            Some(&district),
            json!({"name": "和平里社区", "street_office": "城东街道"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:#}", made.body);
    let second = made.body["id"].as_i64().expect("id");
    let (status, _, body) = t.get("services.json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("jurisdiction_id"), "{body}");
    assert!(
        t.get_json("services.json?jurisdiction_id=1")
            .await
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    // The first community's request is not the second's.
    let (id, _) = t.file("7").await;
    assert_eq!(
        t.get_json(&format!("requests/{id}.json?jurisdiction_id=1"))
            .await[0]["service_request_id"],
        id.to_string()
    );
    let (status, _, body) = t
        .get(&format!("requests/{id}.json?jurisdiction_id={second}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // A key of the first community files nowhere else.
    let (status, _, body) = t
        .form(
            "requests.json",
            &[
                ("api_key", &t.key),
                ("service_code", "water_leak"),
                ("attribute[building]", "7"),
                ("jurisdiction_id", &second.to_string()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[actix_web::test]
async fn routing_and_dispatch_name_the_linked_body_responsible() {
    let mut t = setup().await;
    let (water, repairs) = (AgencyId::random(), AgencyId::random());
    let mut ops = Vec::new();
    for (id, name, kind, categories) in [
        (
            water,
            "自来水公司",
            AgencyKind::Utility,
            vec!["water_leak".to_string()],
        ),
        (
            repairs,
            "物业维修公司",
            AgencyKind::Firm,
            vec!["repair".to_string()],
        ),
    ] {
        ops.push(t.world.admin.op(OpBody::Agency(
            id,
            AgencyOp::Create(AgencyCreate {
                name: name.into(),
                kind,
                contact_role: "值班调度".into(),
                categories,
            }),
        )));
    }
    ops.push(t.world.admin.op(OpBody::Route(
        RouteId::random(),
        RouteOp::Set(RouteSet {
            category: "water_leak".into(),
            grid: None,
            to: Some(Handler::Agency(water)),
        }),
    )));
    t.app.push_ok(&t.world.admin, &ops).await;
    // Routed by its category: the rule names the water company.
    let (id, _) = t.file("7").await;
    let routed = t.get_json(&format!("requests/{id}.json")).await;
    assert_eq!(
        routed[0]["agency_responsible"], "自来水公司",
        "{:#}",
        routed[0]
    );
    // The cell's worker dispatches it elsewhere, with a note for the resident: that body answers now.
    let step = |agency, note: &str| AgencyStep {
        agency,
        note: Some(note.into()),
        public: true,
    };
    let dispatch = t.world.worker.op(OpBody::Ticket(
        id,
        TicketOp::Dispatch(step(repairs, "已联系维修公司")),
    ));
    t.app
        .push_ok(&t.world.worker, std::slice::from_ref(&dispatch))
        .await;
    let dispatched = t.get_json(&format!("requests/{id}.json")).await;
    assert_eq!(dispatched[0]["agency_responsible"], "物业维修公司");
    assert_eq!(dispatched[0]["status"], "open");
    let notes = dispatched[0]["status_notes"].as_str().expect("notes");
    assert!(
        notes.starts_with("已转联动单位") && notes.contains("已联系维修公司"),
        "{notes}"
    );
    // The body accepts and completes: closed, and the updates say who.
    let ops = vec![
        t.world.worker.op(OpBody::Ticket(
            id,
            TicketOp::AgencyAccept(step(repairs, "已派师傅")),
        )),
        t.world.worker.op(OpBody::Ticket(
            id,
            TicketOp::AgencyComplete(step(repairs, "已修复")),
        )),
    ];
    t.app.push_ok(&t.world.worker, &ops).await;
    let done = t.get_json(&format!("requests/{id}.json")).await;
    assert_eq!(done[0]["status"], "closed", "{:#}", done[0]);
    let updates = t
        .get_json(&format!(
            "servicerequestupdates.json?service_request_id={id}"
        ))
        .await;
    let seen: Vec<(&str, &str)> = updates
        .as_array()
        .expect("updates")
        .iter()
        .map(|u| {
            (
                u["status"].as_str().expect("status"),
                u["description"].as_str().expect("text"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("OPEN", "诉求已受理"),
            (
                "INTERNAL_REFERRAL",
                "已转联动单位: 物业维修公司 — 已联系维修公司"
            ),
            ("IN_PROGRESS", "联动单位已受理: 物业维修公司 — 已派师傅"),
            ("FIXED", "联动单位已办结: 物业维修公司 — 已修复"),
        ]
    );
}
