//! Trains the op log's zstd dictionary: the `body` members that format 1 rows hold
//! ([`linli_server::op_row`]), of one simulated community-year (`test_support::community_year`), every 11th op so
//! that visits, tickets, activities and cards are all in the sample (the log starts with a year of visits), at
//! most 20,000 of them, into a 16 KB dictionary. Prints how small the community-year's bodies get with it.
//!
//! A bench target only to be built in release and to reach the test-support simulation; it writes
//! a candidate dictionary only when asked: `LINLI_WRITE_DICTIONARY=1 cargo bench -p linli-server --bench
//! op_log_dictionary` writes `server/data/op_log_dict_candidate.zdict`, never dictionary 1 (`op_log_dict1.zdict`),
//! which is frozen once rows use it (a test pins its bytes): a new dictionary is a new file and a new format.

use linli_server::op_row::{self, Envelope};
use linli_sync_core::test_support::community_year;

fn main() {
    let ops = community_year(1_735_660_800_000, 365);
    let bodies: Vec<String> = ops
        .iter()
        .filter_map(|op| {
            let json = op.to_json();
            let lean = op_row::encode(op, &json, op.replica, None);
            let e = Envelope {
                op_id: &lean.op_id,
                device_id: &lean.device_id,
                replica: lean.replica.as_deref(),
                author: &lean.author,
                kind: lean.kind,
                entity: &lean.entity,
                hlc_wall_ms: lean.hlc_wall_ms,
                hlc_logical: lean.hlc_logical,
            };
            op_row::split(&e, &json).map(str::to_string)
        })
        .collect();
    let samples: Vec<&[u8]> = bodies
        .iter()
        .step_by(11)
        .take(20_000)
        .map(|b| b.as_bytes())
        .collect();
    let dict = zstd::dict::from_samples(&samples, 16 * 1024).expect("dictionary");
    let plain: usize = bodies.iter().map(String::len).sum();
    let mut c = zstd::bulk::Compressor::with_dictionary(3, &dict).expect("compressor");
    c.set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))
        .expect("no dictionary id");
    let small: usize = bodies
        .iter()
        .map(|b| c.compress(b.as_bytes()).expect("zstd").len().min(b.len()))
        .sum();
    println!(
        "{} ops, {} bodies: {:.1} B/op plain, {:.1} B/op with a {} B dictionary",
        ops.len(),
        bodies.len(),
        plain as f64 / bodies.len() as f64,
        small as f64 / bodies.len() as f64,
        dict.len()
    );
    if std::env::var_os("LINLI_WRITE_DICTIONARY").is_some() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/op_log_dict_candidate.zdict"
        );
        std::fs::write(path, &dict).expect("write the dictionary");
        println!("wrote {path}");
    }
}
