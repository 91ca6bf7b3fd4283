//! No value of a refused request in any answer or log line. Found in issue 15: a phone number sent as a number was
//! quoted back ("invalid type: integer `13912345678`, expected a string") in `detail` and `cause.reason`, a name
//! given as a `channel` came back as "unknown variant `王秀英…`", a name as the sync `cursor` or a report's `grid`
//! came back whole, and so did a numeric login password: the old redaction blanked double-quoted values only.
//!
//! The sweep sends a marked name and a marked number through every field of every endpoint (each field of each op
//! kind, the sync request's own fields, the login, refresh and enrolment bodies, users, codes, cards, fees, path
//! segments and report parameters), then looks for the marks in every refusal and in the server's log.

use linli_sync_core::test_support::wire_examples;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::Server;

/// A name and a phone number no schema, default or generated id contains.
const NAME: &str = "王秀英";
const NUMBER: u64 = 13_912_345_678;

/// The places in `value` a field can be replaced: every member of every object, every element of every array.
fn paths(value: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        at.push(key);
        out.push(at.clone());
        paths(child, at, out);
        at.pop();
    }
}

fn replaced(value: &Value, path: &[String], with: &Value) -> Value {
    let mut out = value.clone();
    let mut slot = &mut out;
    for key in path {
        slot = match slot {
            Value::Object(m) => m.get_mut(key).expect("path exists"),
            Value::Array(a) => &mut a[key.parse::<usize>().expect("index")],
            _ => unreachable!("paths only go through objects and arrays"),
        };
    }
    *slot = with.clone();
    out
}

/// Every variant of `body` with one field replaced by each mark (with the mark written into the middle of a
/// text too, for fields that are read as text).
fn marked(body: &Value) -> Vec<Value> {
    let mut all = Vec::new();
    paths(body, &mut Vec::new(), &mut all);
    let marks = [
        json!(NAME),
        json!(NUMBER),
        json!(format!("x{NAME}x{NUMBER}")),
        json!([NAME]),
        json!({"v": NUMBER}),
        json!(-(NUMBER as i64)),
        json!(NUMBER as f64 + 0.5),
    ];
    all.iter()
        .flat_map(|path| marks.iter().map(move |m| replaced(body, path, m)))
        .collect()
}

struct Sweep<'a> {
    server: &'a Server,
    client: reqwest::Client,
    sent: usize,
    refused: usize,
    leaks: Vec<String>,
}

impl Sweep<'_> {
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.server.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let (status, text) = self.server.send(req).await;
        self.sent += 1;
        // A success may hold the value legitimately (a stored op, a created user's name): only refusals are
        // searched.
        if !status.is_success() {
            self.refused += 1;
            if text.contains(NAME) || text.contains(&NUMBER.to_string()) {
                self.leaks
                    .push(format!("{method} {path} {body:?} → {status} {text}"));
            }
        }
    }
}

#[actix_web::test]
async fn no_refusal_and_no_log_line_quotes_a_value_of_the_request() {
    // The default log level. (At `debug`, actix-web's own extractors log the request path.)
    let server = Server::start("info");
    let admin = server.admin().await;
    let web = admin["access_token"].as_str().expect("token").to_string();
    let enrolled = server.enrol(&web, &admin["user_id"]).await;
    let device = enrolled["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    let replica = enrolled["device_id"].clone();
    let mut sweep = Sweep {
        server: &server,
        client: reqwest::Client::new(),
        sent: 0,
        refused: 0,
        leaks: Vec::new(),
    };

    // Every field of every op kind, as this admin's device wrote it now (so that the checks after reading, of
    // clock, rights and data rules, are reached too).
    let now = linli_server::now_ms();
    for op in wire_examples() {
        let mut op = op.to_value();
        op["replica"] = replica.clone();
        op["author"] = admin["user_id"].clone();
        op["time"] = json!({"wall_ms": now, "logical": 0});
        for op in marked(&op) {
            let body = json!({"protocol": 1, "cursor": 0, "ops": [op]});
            sweep
                .send(Method::POST, "/v1/sync", Some(&device), Some(&body))
                .await;
        }
    }
    for body in marked(&json!({"protocol": 1, "cursor": 0, "limit": 10, "ops": []})) {
        sweep
            .send(Method::POST, "/v1/sync", Some(&device), Some(&body))
            .await;
    }
    for cursor in [json!(NUMBER), json!(NAME)] {
        let body = json!({"protocol": 1, "cursor": cursor});
        sweep
            .send(Method::POST, "/v1/sync", Some(&device), Some(&body))
            .await;
    }
    let small: [(&str, Option<&str>, Value); 7] = [
        (
            "/v1/auth/login",
            None,
            json!({"username": "admin", "password": "wrong"}),
        ),
        ("/v1/auth/refresh", None, json!({"refresh_token": "r"})),
        ("/v1/devices/enrol", None, json!({"code": "c"})),
        (
            "/v1/users",
            Some(&web),
            json!({"username": "u", "role": "volunteer", "password": "p"}),
        ),
        (
            "/v1/enrolment-codes",
            Some(&web),
            json!({"user_id": admin["user_id"], "label": "l"}),
        ),
        (
            "/v1/cards/00000000-0000-0000-0000-000000000001/grants",
            Some(&web),
            json!({"device_id": replica, "points": 1}),
        ),
        (
            "/v1/fees/payments",
            Some(&web),
            json!({"household": "00000000-0000-0000-0000-000000000002", "period": "2026-05", "amount_fen": 100}),
        ),
    ];
    for (path, token, body) in &small {
        for body in marked(body) {
            sweep.send(Method::POST, path, *token, Some(&body)).await;
        }
    }
    let segment = format!("{NAME}{NUMBER}");
    for path in [
        format!("/v1/devices/{segment}/revoke"),
        format!("/v1/cards/{segment}/grants"),
        format!("/v1/reports/{segment}"),
        format!("/{segment}"),
        format!("/static/{segment}"),
    ] {
        sweep
            .send(Method::POST, &path, Some(&web), Some(&json!({})))
            .await;
        sweep.send(Method::GET, &path, Some(&web), None).await;
    }
    for report in [
        "compliance",
        "outcomes",
        "ranking",
        "agencies",
        "councils",
        "coverage",
        "hours",
        "fees",
        "grids",
    ] {
        for param in ["grid", "from", "to", "month", "day", "format"] {
            for value in [NAME.to_string(), NUMBER.to_string()] {
                let path = format!("/v1/reports/{report}?{param}={value}");
                sweep.send(Method::GET, &path, Some(&web), None).await;
            }
        }
    }
    for query in [format!("protocol={NUMBER}"), format!("protocol={NAME}")] {
        sweep
            .send(
                Method::GET,
                &format!("/v1/snapshot?{query}"),
                Some(&device),
                None,
            )
            .await;
    }

    eprintln!("{} requests sent, {} refused", sweep.sent, sweep.refused);
    assert!(
        sweep.refused > 1000,
        "the sweep reaches the refusals: {}",
        sweep.refused
    );
    assert!(
        sweep.leaks.is_empty(),
        "{} refusals quote a value:\n{}",
        sweep.leaks.len(),
        sweep.leaks.join("\n")
    );
    let log = server.log();
    let leaked: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(NAME) || l.contains(&NUMBER.to_string()))
        .collect();
    assert!(
        leaked.is_empty(),
        "log lines quote a value:\n{}",
        leaked.join("\n")
    );
}
