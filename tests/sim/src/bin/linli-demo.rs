//! `linli-demo`: one command for a newcomer. It starts the Linli server on a temporary SQLite database, seeds a
//! community like the pilot (10 buildings, about 500 households, 7 grid cells, 9 social workers, 110 volunteers,
//! 7 micro-butlers among them, elderly residents living alone), plays a field day through real phone replicas (offline
//! door-knock visits, tickets under 5-20-2-2, approvals, card credits and a fee offset), its 7 linked bodies with
//! routing rules, complex tickets dispatched to them and a council decision, with a progress bar,
//! syncs, and leaves the server running with the dashboard URL and an admin login printed. A second, smaller
//! community of the same street office is seeded beside it (its own admin, cells, phones and morning rounds), and a
//! district admin who sees both.
//!
//! `cargo run --release -p linli-sim --bin linli-demo` — options: `LINLI_DEMO_BIND` (default `127.0.0.1:8080`,
//! falling back to a free port when it is taken) and `--exit` (stop after the day instead of serving on).

use indicatif::{ProgressBar, ProgressStyle};
use linli_ffi::store::TicketStep;
use linli_server::config::Config;
use linli_sim::model::{self, Model};
use linli_sim::rng::Rng;
use linli_sim::script;
use linli_sim::server::ServerProc;
use linli_sim::world::{Spec, World};
use linli_sync_core::grid::{GridOp, MemberRole};
use linli_sync_core::prelude::{OpBody, Role};
use std::net::TcpListener;

const MINUTE: u64 = 60_000;

fn main() {
    let exit_after = std::env::args().any(|a| a == "--exit");
    let dir = tempfile::Builder::new()
        .prefix("linli-demo-")
        .tempdir()
        .expect("a temporary directory");
    let password = format!("demo-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let data_dir = dir.path().join("server");
    let bind = std::env::var("LINLI_DEMO_BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = TcpListener::bind(&bind)
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let config = Config {
        data_dir: data_dir.clone(),
        database_url: data_dir
            .join("linli.sqlite3")
            .to_string_lossy()
            .into_owned(),
        workers: 2,
        admin_password: Some(password.clone()),
        ..Config::default()
    };
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let database_url = config.database_url.clone();
    let (state, _) = linli_server::app::prepare(config).expect("the server prepares its database");
    let server_thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            linli_server::app::server(state, listener)
                .expect("the server starts")
                .await
        })
    });

    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {pos:>3}% {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_message("08:00 setting up the community");
    // The pilot: 7 grid cells over 10 buildings (497 households, 1 in 8 an elderly person living alone), one
    // social worker and one micro-butler per cell.
    let spec = Spec {
        grids: 7,
        households_per_grid: 71,
        elderly_every: 8,
        households_per_building: 50,
        workers_per_grid: 1,
        butlers_per_grid: 1,
        ..Spec::default()
    };
    let server = ServerProc::external(&base, &data_dir);
    let mut world = World::build_on(server, &password, dir, &spec);
    let mut m = Model::default();
    let mut rng = Rng::new(20_261_128);
    bar.set_position(15);

    // Two more social workers, each a second worker of a busy cell; 110 volunteers, 20 of them with the app.
    bar.set_message("08:10 enrolling social workers and volunteers");
    let mut extra = Vec::new();
    for (i, cell) in [0usize, 3].into_iter().enumerate() {
        let name = format!("social-worker-extra-{}", i + 1);
        let user = world.console.add_user(&name, Role::GridWorker);
        extra.push(OpBody::Grid(
            world.cells[cell].id,
            GridOp::AddMember {
                user,
                role: MemberRole::Worker,
            },
        ));
        let e = world.console.enrol(user, &name);
        let dir = world.scratch("phones");
        world
            .phones
            .push(linli_sim::phone::Phone::open(&dir, &name, e, &base));
        let idx = world.phones.len() - 1;
        world.cells[cell].workers.push(idx);
    }
    world.console.write(linli_sim::now_ms(), extra);
    // 110 volunteers: the 7 micro-butlers (enrolled above, each with the app) and 103 more, registered at the desk.
    for v in 0..103 {
        world
            .console
            .add_user(&format!("volunteer-{:03}", v + 1), Role::Volunteer);
    }
    // A volunteer's phone can log hours only in a grid cell its replica holds, i.e. where they are a micro-butler
    // (see docs/field-day.md, findings), so the hours of the day are the micro-butlers'.
    let volunteers: Vec<usize> = world.cells.iter().map(|c| c.butlers[0]).collect();
    world.settle();
    bar.set_position(25);

    // Morning rounds: every micro-butler knocks on every elderly door of their cell, offline in the stairwells.
    bar.set_message("09:00 door-knock rounds, offline");
    let mut follow_ups = Vec::new();
    for cell in 0..world.cells.len() {
        let c = world.cells[cell].clone();
        for (h, (_, elderly)) in c.households.iter().enumerate() {
            if *elderly {
                let unwell = rng.chance(6);
                if let Some(t) = script::visit(&mut world, &mut m, c.butlers[0], cell, h, unwell) {
                    follow_ups.push((cell, t));
                }
            }
        }
        world.phones[c.butlers[0]]
            .sync()
            .expect("the butler syncs on the way back");
    }
    bar.set_position(45);

    // Tickets: follow-ups and desk complaints, handled offline under 5-20-2-2; synced later on Wi-Fi.
    bar.set_message("10:30 tickets under 5-20-2-2");
    for cell in 0..world.cells.len() {
        let worker = world.cells[cell].workers[0];
        world.phones[worker].sync().expect("the worker syncs");
        for _ in 0..2 {
            let complex = rng.chance(25);
            let t = script::ticket(&mut world, &mut m, worker, cell, complex);
            follow_ups.push((cell, t));
        }
    }
    // Event times come from each phone's hybrid clock, which never runs backwards and must stay within the
    // server's 10-minute drift bound: a worker's steps on a ticket are minutes apart (a late arrival takes 6), and
    // the worker syncs after each ticket.
    for (cell, t) in follow_ups.clone() {
        let worker = world.cells[cell].workers[0];
        let late = rng.chance(20);
        script::step(&mut world, &mut m, worker, t, TicketStep::Take(None), 0);
        let arrive = if late { 6 * MINUTE } else { MINUTE };
        script::step(
            &mut world,
            &mut m,
            worker,
            t,
            TicketStep::Arrive(None),
            arrive,
        );
        let complex = world.phones[worker].state().ticket(&t).is_some_and(|x| {
            x.effective_complexity() == linli_sync_core::prelude::Complexity::Complex
        });
        if complex {
            let plan = TicketStep::Plan("业委会议事".into());
            script::step(&mut world, &mut m, worker, t, plan, arrive + MINUTE);
        } else {
            let solve = TicketStep::Solve(Some("已修复".into()));
            script::step(&mut world, &mut m, worker, t, solve, arrive + MINUTE);
            let answer = TicketStep::Answer("已电话答复居民".into());
            script::step(&mut world, &mut m, worker, t, answer, arrive + 90_000);
            script::step(
                &mut world,
                &mut m,
                worker,
                t,
                TicketStep::Rate(5, None),
                arrive + 2 * MINUTE,
            );
        }
        world.phones[worker].sync().expect("the worker syncs");
    }
    world.settle();
    bar.set_position(65);

    // Afternoon: volunteers log their hours; the grid workers approve them, which credits the green card.
    bar.set_message("14:00 volunteer hours and approvals");
    let mut logged = Vec::new();
    for (i, &v) in volunteers.iter().enumerate() {
        let cell = i;
        let minutes = 60 + rng.below(5) as u64 * 30;
        let entry = script::activity(&mut world, &mut m, v, cell, minutes);
        logged.push((v, cell, entry, minutes));
        world.phones[v].sync().expect("the volunteer syncs");
    }
    for cell in 0..world.cells.len() {
        let worker = world.cells[cell].workers[0];
        world.phones[worker].sync().expect("the worker syncs");
    }
    for (v, cell, entry, minutes) in &logged {
        let worker = world.cells[*cell].workers[0];
        script::approve(&mut world, &mut m, worker, entry, *v, *minutes);
    }
    world.settle();
    bar.set_position(85);

    // The property office: rights granted from the card pools, then fee offsets redeemed at the desk.
    bar.set_message("17:00 the property office offsets fees");
    let office = world.office;
    for &(v, cell, _, _) in logged.iter().take(5) {
        let device = world.phones[office].id.device;
        let answer = world.console.grant(world.user(v), device, 10);
        assert_eq!(
            answer.status,
            201,
            "grant: {}",
            String::from_utf8_lossy(&answer.body)
        );
        world.phones[office].sync().expect("the office syncs");
        script::redeem(&mut world, &mut m, office, v, cell, 10)
            .expect("a fee offset within rights");
    }
    world.settle();

    // The cooperative's seven linked bodies, its routing rules and the deliberation clinic's decision, with three
    // complex desk tickets dispatched to the bodies.
    bar.set_message("17:30 linked bodies, routing rules and a council decision");
    let now = linli_sim::now_ms();
    let today = linli_reports::calendar::date_of(now, 480);
    let seeded = linli_sim::bodies::seed(&mut world, &mut m, now, &today);
    world.settle();
    model::assert_converged(&world, &[]);
    model::assert_model(&world, &m);
    let merged = model::server_state(&world);
    let bodies = merged.agencies().values().filter(|a| a.exists()).count();
    let decision = merged
        .decision(&seeded.decision)
        .expect("the council decision is on the server");
    let decided = merged.tickets_decided_by(&seeded.decision).len();
    let report = linli_sim::http::get(
        &format!("{base}/v1/reports/agencies?from={today}&to={today}"),
        &world.console.token,
    )
    .expect("the agencies report");
    assert_eq!(
        report.status,
        200,
        "{}",
        String::from_utf8_lossy(&report.body)
    );
    let rows = report.json()["agencies"].clone();
    let sum = |field: &str| -> u64 {
        rows.as_array()
            .expect("the agencies")
            .iter()
            .filter_map(|a| a[field].as_u64())
            .sum()
    };
    let (dispatches, reassigned) = (sum("dispatched"), sum("reassigned"));
    bar.set_position(90);

    // The street office: the pilot is 幸福里社区 of 城东街道, its neighbour 和平里社区 gets its own admin and log,
    // and a district admin sees both.
    bar.set_message("18:00 the street office's second community");
    let second = second_community(&base, &database_url, &password, &data_dir);
    bar.set_position(100);
    bar.finish_with_message("18:00 the day is synced; every phone agrees with the server");

    let visits: u64 = m.visits.values().sum();
    let minutes: u64 = m.approved_minutes.values().sum();
    let credited: u64 = m.credited.values().sum();
    let redeemed: u64 = m.redeemed.values().sum();
    println!();
    println!(
        "Field day played through {} phone replicas:",
        world.phones.len()
    );
    println!("  door-knock visits      {visits}");
    println!("  tickets                {}", m.tickets.len());
    println!("  approved hours         {:.1}", minutes as f64 / 60.0);
    println!("  points credited        {credited}");
    println!("  points redeemed (fees) {redeemed}");
    println!(
        "  linked bodies          {bodies} ({dispatches} dispatches, {reassigned} reassigned)"
    );
    println!(
        "  council decisions      1 ({} {}, {decided} ticket)",
        decision.council_name.val.as_deref().unwrap_or_default(),
        decision.date.val.as_deref().unwrap_or_default(),
    );
    println!();
    println!(
        "Second community (和平里社区): {} door-knock visits by {} phones",
        second.1, second.0
    );
    println!();
    println!("Dashboard:   {base}/");
    println!(
        "Admin login: username `admin` (幸福里社区), `admin-2` (和平里社区) or `district` (城东街道, both),"
    );
    println!("             password `{password}`");
    println!("Data:        {}", data_dir.display());
    if exit_after {
        return;
    }
    println!("The server keeps running; stop it with Ctrl-C.");
    let _ = server_thread.join();
}

/// Names the pilot community, creates the district admin, and through the API (as the district admin) the second
/// community and its admin, who builds it and plays its morning rounds. The number of its phones and visits.
fn second_community(
    base: &str,
    database_url: &str,
    password: &str,
    data_dir: &std::path::Path,
) -> (usize, u64) {
    use linli_server::community::{self, CommunityId};
    use serde_json::json;
    let pool = linli_server::db::open(database_url, 1).expect("the demo's database");
    let mut conn = pool.get().expect("a connection");
    community::rename(&mut conn, CommunityId::FIRST, "幸福里社区", "城东街道").expect("named");
    let hash = linli_server::password::hash_now(password).expect("hash");
    linli_server::identity::add_user(&mut conn, "district", Role::Admin, None, Some(&hash), 0)
        .expect("the district admin");
    drop(conn);
    let district = linli_sim::http::Console::login_as(base, "district", password);
    let created = linli_sim::http::post(
        &format!("{base}/v1/communities"),
        Some(&district.token),
        json!({"name": "和平里社区", "street_office": "城东街道"})
            .to_string()
            .as_bytes(),
    )
    .expect("an answer");
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id = created.json()["id"].as_i64().expect("the community's id");
    let admin = linli_sim::http::post(
        &format!("{base}/v1/users"),
        Some(&district.token),
        json!({"username": "admin-2", "role": "admin", "password": password, "community": id})
            .to_string()
            .as_bytes(),
    )
    .expect("an answer");
    assert_eq!(
        admin.status,
        201,
        "{}",
        String::from_utf8_lossy(&admin.body)
    );
    let spec = Spec {
        grids: 3,
        households_per_grid: 40,
        elderly_every: 5,
        households_per_building: 40,
        workers_per_grid: 1,
        butlers_per_grid: 1,
        admin: "admin-2".into(),
        prefix: "hpl-".into(),
        community: "和平里社区".into(),
        ..Spec::default()
    };
    let dir = tempfile::Builder::new()
        .prefix("linli-demo-2-")
        .tempdir()
        .expect("a temporary directory");
    let server = ServerProc::external(base, data_dir);
    let mut world = World::build_on(server, password, dir, &spec);
    let mut m = Model::default();
    for cell in 0..world.cells.len() {
        let c = world.cells[cell].clone();
        for (h, (_, elderly)) in c.households.iter().enumerate() {
            if *elderly {
                script::visit(&mut world, &mut m, c.butlers[0], cell, h, false);
            }
        }
        world.phones[c.butlers[0]].sync().expect("the butler syncs");
    }
    world.settle();
    model::assert_converged(&world, &[]);
    model::assert_model(&world, &m);
    (world.phones.len(), m.visits.values().sum())
}
