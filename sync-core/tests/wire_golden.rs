//! The wire format is pinned by golden files: one per op kind in `tests/data/wire/`. A change that alters the
//! bytes on the wire fails here and shows up as a diff in review. To accept an intended change, run with
//! `LINLI_UPDATE_GOLDEN=1` and review the diff. `docs/protocol.md` must show every example verbatim.

use linli_sync_core::prelude::*;
use linli_sync_core::test_support::wire_examples;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/wire")
}

fn pretty(op: &Op) -> String {
    serde_json::to_string_pretty(&op.to_value()).expect("serialises") + "\n"
}

#[test]
fn every_op_kind_has_exactly_one_golden_example() {
    let kinds: Vec<OpKind> = wire_examples().iter().map(Op::kind).collect();
    assert_eq!(
        kinds,
        OpKind::ALL,
        "one example per kind, in documentation order"
    );
}

#[test]
fn golden_files_match_the_wire_form() {
    let update = std::env::var_os("LINLI_UPDATE_GOLDEN").is_some();
    for op in wire_examples() {
        let path = dir().join(format!("{}.json", op.kind()));
        let want = pretty(&op);
        if update {
            std::fs::create_dir_all(dir()).expect("mkdir");
            std::fs::write(&path, &want).expect("write golden");
        }
        let have = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with LINLI_UPDATE_GOLDEN=1)", path.display()));
        assert_eq!(have, want, "{} differs from the wire form", path.display());
        // And the golden bytes read back to the same op.
        let back = Op::from_json(&have).expect("golden parses");
        assert_eq!(back, op);
    }
}

#[test]
fn protocol_doc_shows_every_golden_example() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md"),
    )
    .expect("docs/protocol.md exists");
    for op in wire_examples() {
        assert!(
            doc.contains(&pretty(&op)),
            "docs/protocol.md lacks the example of `{}`",
            op.kind()
        );
    }
}

#[test]
fn unknown_fields_from_a_newer_writer_are_kept_verbatim() {
    let mut v = wire_examples()[0].to_value();
    v["priority"] = serde_json::json!({"level": 2});
    v["body"]["photo_ids"] = serde_json::json!(["a", "b"]);
    v["body"]["location"]["floor"] = serde_json::json!(3);
    let text = v.to_string();
    let op = Op::from_json(&text).expect("a newer op still parses");
    assert_eq!(op.unknown.envelope.len(), 1);
    assert!(!op.unknown.body.is_empty());
    assert_eq!(op.to_json(), text, "written back byte for byte");
}

#[test]
fn malformed_input_gets_typed_errors() {
    let good = wire_examples()[5].to_value();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        Op::from_value(v).expect_err("must be refused")
    };
    assert!(matches!(
        Op::from_json("{not json"),
        Err(WireError::Json(_))
    ));
    assert_eq!(Op::from_json("[1,2]"), Err(WireError::NotAnObject));
    assert_eq!(
        with(&|v| {
            v.as_object_mut().map(|o| o.remove("id"));
        }),
        WireError::Missing("id")
    );
    assert_eq!(
        with(&|v| v["v"] = serde_json::json!(2)),
        WireError::UnsupportedVersion {
            found: 2,
            supported: WIRE_VERSION
        }
    );
    assert_eq!(
        with(&|v| v["kind"] = serde_json::json!("ticket.teleport")),
        WireError::UnknownKind("ticket.teleport".into())
    );
    assert!(matches!(
        with(&|v| v["time"] = serde_json::json!("yesterday")),
        WireError::Field { field: "time", .. }
    ));
    assert!(matches!(
        with(&|v| v["entity"] = serde_json::json!(42)),
        WireError::Field {
            field: "entity",
            ..
        }
    ));
    let mut rate = wire_examples()[10].to_value();
    rate["body"]["satisfaction"] = serde_json::json!("five");
    assert!(matches!(
        Op::from_value(rate),
        Err(WireError::Body {
            kind: OpKind::TicketRate,
            ..
        })
    ));
}
