//! `TestApp`: the real server on port 0 with a fresh SQLite file in a temporary directory, driven over real HTTP
//! with reqwest; plus a small world (two grid cells, a grid worker and a volunteer in the first) built through the
//! API with the same op writer the phones use.

use diesel::prelude::*;
use linli_server::app;
use linli_server::config::Config;
use linli_server::db::schema;
use linli_sync_core::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::PathBuf;

/// The JWT secret every test server uses, so tests can forge and expire tokens on purpose.
pub const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
/// The first admin's password.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The HTTP client (gzip-capable).
    pub client: reqwest::Client,
    /// The temporary data directory (removed on drop, after the server stopped).
    _dir: tempfile::TempDir,
    /// The SQLite file.
    pub db_path: PathBuf,
    /// The admin's web-login token.
    pub admin_token: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting and let the workers wind down; the runtime of the test ends right after.
        drop(self.handle.stop(false));
    }
}

/// An enrolled device with its own op writer.
pub struct Device {
    /// Device id.
    pub id: ReplicaId,
    /// Its user.
    pub user: UserId,
    /// Access token.
    pub token: String,
    /// Refresh token.
    pub refresh: String,
    /// Writes ops as this device.
    pub writer: Writer,
}

impl Device {
    /// A new op by this device, stamped now.
    pub fn op(&mut self, body: OpBody) -> Op {
        self.writer.op(linli_server::now_ms(), body)
    }
}

/// A reply: status and JSON body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// The body (`Null` when empty).
    pub body: Value,
    /// The `Content-Type`.
    pub content_type: String,
}

impl Reply {
    /// The problem code.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Asserts a problem+json error with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(self.code(), code, "{:#}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{:#}",
            self.body
        );
        assert_eq!(self.body["status"], json!(status));
        for field in ["type", "title", "detail"] {
            assert!(
                self.body[field].is_string(),
                "missing {field}: {:#}",
                self.body
            );
        }
    }
}

impl TestApp {
    /// A server with the default configuration.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// A server whose configuration `adjust` may change first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            database_url: dir
                .path()
                .join("linli.sqlite3")
                .to_string_lossy()
                .into_owned(),
            workers: 2,
            jwt_secret: Some(SECRET.into()),
            admin_password: Some(ADMIN_PASSWORD.into()),
            ..Config::default()
        };
        adjust(&mut config);
        let db_path = PathBuf::from(&config.database_url);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (state, _) = app::prepare(config).expect("server prepares");
        let server = app::server(state, listener).expect("server starts");
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let client = reqwest::Client::builder().build().expect("client");
        let mut app = TestApp {
            base,
            client,
            _dir: dir,
            db_path,
            admin_token: String::new(),
            handle,
        };
        let login = app
            .post(
                "/v1/auth/login",
                None,
                json!({"username": "admin", "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{:#}", login.body);
        app.admin_token = login.body["access_token"]
            .as_str()
            .expect("token")
            .to_string();
        app
    }

    /// Sends a request and reads the reply.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = res.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            body,
            content_type,
        }
    }

    /// POSTs JSON.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// GETs.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// POSTs a raw body to `/v1/sync`.
    pub async fn sync_raw(&self, token: &str, body: impl Into<reqwest::Body>) -> Reply {
        let req = self
            .client
            .post(format!("{}/v1/sync", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body);
        self.send(req).await
    }

    /// Pushes ops (and pulls from `cursor`).
    pub async fn push(&self, device: &Device, ops: &[Op]) -> Reply {
        self.sync(device, 0, ops, None).await
    }

    /// A full sync request.
    pub async fn sync(
        &self,
        device: &Device,
        cursor: u64,
        ops: &[Op],
        limit: Option<u32>,
    ) -> Reply {
        let mut body = json!({
            "protocol": 1,
            "cursor": cursor,
            "ops": ops.iter().map(Op::to_value).collect::<Vec<_>>(),
        });
        if let Some(l) = limit {
            body["limit"] = json!(l);
        }
        self.post("/v1/sync", Some(&device.token), body).await
    }

    /// Pushes and asserts success.
    pub async fn push_ok(&self, device: &Device, ops: &[Op]) -> Reply {
        let reply = self.push(device, ops).await;
        assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
        reply
    }

    /// Creates a user through the API.
    pub async fn add_user(&self, username: &str, role: Role) -> UserId {
        self.add_user_as(&self.admin_token, username, role).await
    }

    /// Creates a user through the API as the admin whose token is `admin` (in the admin's community).
    pub async fn add_user_as(&self, admin: &str, username: &str, role: Role) -> UserId {
        let reply = self
            .post(
                "/v1/users",
                Some(admin),
                json!({"username": username, "role": role.as_str()}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.body);
        reply.body["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    }

    /// Issues an enrolment code (as admin) and enrols a device with it.
    pub async fn enrol(&self, user: UserId) -> Device {
        self.enrol_as(&self.admin_token, user).await
    }

    /// Issues an enrolment code as the admin whose token is `admin` and enrols a device with it.
    pub async fn enrol_as(&self, admin: &str, user: UserId) -> Device {
        let code = self
            .post(
                "/v1/enrolment-codes",
                Some(admin),
                json!({"user_id": user.to_string(), "label": "test phone"}),
            )
            .await;
        assert_eq!(code.status, StatusCode::CREATED, "{:#}", code.body);
        let code = code.body["code"].as_str().expect("code").to_string();
        self.enrol_with(&code).await
    }

    /// Enrols a device with a code.
    pub async fn enrol_with(&self, code: &str) -> Device {
        let reply = self
            .post("/v1/devices/enrol", None, json!({"code": code}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.body);
        let b = &reply.body;
        let id: ReplicaId = b["device_id"]
            .as_str()
            .expect("device")
            .parse()
            .expect("uuid");
        let user: UserId = b["user_id"].as_str().expect("user").parse().expect("uuid");
        Device {
            id,
            user,
            token: b["access_token"].as_str().expect("access").into(),
            refresh: b["refresh_token"].as_str().expect("refresh").into(),
            writer: Writer::new(id, user, HlcClock::new(DriftPolicy::DEFAULT)),
        }
    }

    /// A new user with one enrolled device.
    pub async fn person(&self, username: &str, role: Role) -> Device {
        let user = self.add_user(username, role).await;
        self.enrol(user).await
    }

    /// A direct connection to the database file, for assertions.
    pub fn db(&self) -> SqliteConnection {
        SqliteConnection::establish(self.db_path.to_str().expect("utf8")).expect("open db")
    }

    /// Row counts of every table: equal before and after a refused request means nothing was stored.
    pub fn fingerprint(&self) -> Vec<(&'static str, i64)> {
        let mut c = self.db();
        let n = |r: QueryResult<i64>| r.expect("count");
        vec![
            (
                "op_log",
                n(schema::op_log::table.count().get_result(&mut c)),
            ),
            (
                "grid_cells",
                n(schema::grid_cells::table.count().get_result(&mut c)),
            ),
            (
                "tickets",
                n(schema::tickets::table.count().get_result(&mut c)),
            ),
            (
                "entries",
                n(schema::entries::table.count().get_result(&mut c)),
            ),
            (
                "visits",
                n(schema::visits::table.count().get_result(&mut c)),
            ),
            (
                "card_movements",
                n(schema::card_movements::table.count().get_result(&mut c)),
            ),
            ("cards", n(schema::cards::table.count().get_result(&mut c))),
            ("users", n(schema::users::table.count().get_result(&mut c))),
            (
                "devices",
                n(schema::devices::table.count().get_result(&mut c)),
            ),
        ]
    }

    /// How many times an op is stored.
    pub fn copies(&self, op: OpId) -> i64 {
        linli_server::store::copies_of(&mut self.db(), op).expect("count")
    }
}

/// Two grid cells: `g1` where `worker` works and `butler` visits `household`, and `g2` where neither does.
pub struct World {
    /// The admin's device.
    pub admin: Device,
    /// A grid worker of `g1`.
    pub worker: Device,
    /// A volunteer (micro-butler) of `g1`.
    pub butler: Device,
    /// In scope.
    pub g1: GridId,
    /// Out of scope.
    pub g2: GridId,
    /// A household of `g1`.
    pub h1: HouseholdId,
    /// A household of `g2`.
    pub h2: HouseholdId,
}

impl World {
    /// Builds the world through the API.
    pub async fn build(app: &TestApp) -> World {
        World::build_as(app, &app.admin_token, "").await
    }

    /// Builds the world through the API as the admin whose token is `admin_token`, in that admin's community;
    /// usernames start with `prefix` (they are unique across communities).
    pub async fn build_as(app: &TestApp, admin_token: &str, prefix: &str) -> World {
        let person = |name: &str, role| {
            let name = format!("{prefix}{name}");
            async move {
                let user = app.add_user_as(admin_token, &name, role).await;
                app.enrol_as(admin_token, user).await
            }
        };
        let mut admin = person("admin-phone", Role::Admin).await;
        let worker = person("worker", Role::GridWorker).await;
        let butler = person("butler", Role::Volunteer).await;
        let (g1, g2) = (GridId::random(), GridId::random());
        let (h1, h2) = (HouseholdId::random(), HouseholdId::random());
        let mut ops = Vec::new();
        for (g, h, name) in [(g1, h1, "第一网格"), (g2, h2, "第二网格")] {
            ops.push(admin.op(OpBody::Grid(
                g,
                GridOp::Create {
                    name: name.into(),
                    community: "幸福里社区".into(),
                },
            )));
            ops.push(admin.op(OpBody::Grid(
                g,
                GridOp::AddHousehold {
                    household: h,
                    details: Household {
                        building: "3".into(),
                        unit: "2".into(),
                        room: "401".into(),
                        elderly_alone: true,
                        contact_name: None,
                    },
                },
            )));
        }
        ops.push(admin.op(OpBody::Grid(
            g1,
            GridOp::AddMember {
                user: worker.user,
                role: MemberRole::Worker,
            },
        )));
        ops.push(admin.op(OpBody::Grid(
            g1,
            GridOp::AddMember {
                user: butler.user,
                role: MemberRole::Butler,
            },
        )));
        ops.push(admin.op(OpBody::Grid(
            g1,
            GridOp::AssignVisit {
                household: h1,
                butler: butler.user,
            },
        )));
        app.push_ok(&admin, &ops).await;
        World {
            admin,
            worker,
            butler,
            g1,
            g2,
            h1,
            h2,
        }
    }

    /// The micro-butler logs an hour of patrol in `g1` (59 whole minutes, so 9 points) and the grid worker approves
    /// it, crediting the butler's card; both pushed.
    pub async fn approved_activity(&mut self, app: &TestApp) -> EntryId {
        let entry = EntryId::random();
        let op = self.butler.op(OpBody::Entry(
            entry,
            EntryOp::Activity(activity(self.butler.user, self.g1)),
        ));
        app.push_ok(&self.butler, std::slice::from_ref(&op)).await;
        let mut view = State::new(Rules::DEFAULT);
        view.apply(&op);
        let approval = self
            .worker
            .writer
            .approve(&view, linli_server::now_ms(), entry, None)
            .expect("approvable");
        app.push_ok(&self.worker, &approval).await;
        entry
    }

    /// The household of a grid.
    pub fn household(&self, g: GridId) -> HouseholdId {
        if g == self.g1 { self.h1 } else { self.h2 }
    }
}

/// A ticket create body in grid `g`.
pub fn ticket_create(g: GridId) -> TicketOp {
    TicketOp::Create(TicketCreate {
        grid: g,
        request_type: RequestType::Help,
        category: "downpipe".into(),
        complexity: Complexity::Small,
        location: Location::default(),
        description: "Leaking downpipe at building 3".into(),
        channel: Channel::Desk,
        reporter: Reporter::default(),
        from_visit: None,
    })
}

/// A visit body.
pub fn visit(volunteer: UserId, g: GridId, h: HouseholdId) -> Visit {
    Visit {
        volunteer,
        grid: g,
        household: h,
        seen: true,
        health: None,
        needs: Vec::new(),
        notes: String::new(),
        follow_up: None,
    }
}

/// An activity body of one hour ending now.
pub fn activity(volunteer: UserId, g: GridId) -> Activity {
    let now = linli_server::now_ms();
    Activity {
        volunteer,
        grid: g,
        activity: "patrol".into(),
        start_ms: now - 3_600_000,
        end_ms: now - 1,
        notes: String::new(),
    }
}
