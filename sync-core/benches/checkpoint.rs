//! Checkpoint encodings compared on the merged state of a community-year (`test_support::community_year`: 217,687
//! ops, 500 households visited daily, 5,000 tickets, 2,000 activities): size, encode and decode time (median of 5),
//! and whether the state reads back equal. Beside them, in the same run: cloning the state (the allocations a
//! decoder cannot avoid, a floor for any decode) and re-applying every op (what a checkpoint saves; a server's
//! rebuild also reads and parses every op from the database on top of that).
//!
//! Run: `cargo bench -p linli-sync-core --bench checkpoint`.

use linli_sync_core::checkpoint;
use linli_sync_core::prelude::*;
use linli_sync_core::test_support::community_year;
use std::time::{Duration, Instant};

fn median<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..5 {
        let started = Instant::now();
        let value = std::hint::black_box(f());
        times.push(started.elapsed());
        out = Some(value);
    }
    times.sort();
    (times[2], out.expect("ran"))
}

type Encode = Box<dyn Fn(&State) -> Vec<u8>>;
type Decode = Box<dyn Fn(&[u8]) -> Result<State, String>>;

fn zstd_on(level: i32, inner: fn(&State) -> Vec<u8>) -> Encode {
    Box::new(move |s| zstd::bulk::compress(&inner(s), level).expect("zstd"))
}

fn unzstd(inner: fn(&[u8]) -> Result<State, String>) -> Decode {
    Box::new(move |b| {
        let raw = zstd::bulk::decompress(b, 1 << 30).map_err(|e| e.to_string())?;
        inner(&raw)
    })
}

fn json(s: &State) -> Vec<u8> {
    serde_json::to_vec(s).expect("json")
}
fn unjson(b: &[u8]) -> Result<State, String> {
    serde_json::from_slice(b).map_err(|e| e.to_string())
}
fn msgpack_named(s: &State) -> Vec<u8> {
    rmp_serde::to_vec_named(s).expect("msgpack")
}
fn msgpack_array(s: &State) -> Vec<u8> {
    rmp_serde::to_vec(s).expect("msgpack")
}
fn unmsgpack(b: &[u8]) -> Result<State, String> {
    rmp_serde::from_slice(b).map_err(|e| e.to_string())
}
fn postcard_of(s: &State) -> Vec<u8> {
    postcard::to_stdvec(s).expect("postcard")
}
fn unpostcard(b: &[u8]) -> Result<State, String> {
    postcard::from_bytes(b).map_err(|e| e.to_string())
}

fn main() {
    let ops = community_year(1_735_660_800_000, 365);
    let (replay, state) = median(|| {
        let mut s = State::new(Rules::DEFAULT);
        for op in &ops {
            s.apply(op);
        }
        s
    });
    let (clone, _) = median(|| state.clone());
    println!(
        "community-year: {} ops; re-applying them all {:.0} ms; cloning the state {:.0} ms",
        ops.len(),
        replay.as_secs_f64() * 1e3,
        clone.as_secs_f64() * 1e3
    );
    println!();
    let candidates: Vec<(&str, Encode, Decode)> = vec![
        ("JSON", Box::new(json), Box::new(unjson)),
        ("JSON + zstd 3", zstd_on(3, json), unzstd(unjson)),
        (
            "JSON + lz4",
            Box::new(|s| lz4_flex::compress_prepend_size(&json(s))),
            Box::new(|b| {
                unjson(&lz4_flex::decompress_size_prepended(b).map_err(|e| e.to_string())?)
            }),
        ),
        ("postcard", Box::new(postcard_of), Box::new(unpostcard)),
        (
            "MessagePack, structs as arrays",
            Box::new(msgpack_array),
            Box::new(unmsgpack),
        ),
        (
            "MessagePack, named fields",
            Box::new(msgpack_named),
            Box::new(unmsgpack),
        ),
        (
            "MessagePack named + lz4",
            Box::new(|s| lz4_flex::compress_prepend_size(&msgpack_named(s))),
            Box::new(|b| {
                unmsgpack(&lz4_flex::decompress_size_prepended(b).map_err(|e| e.to_string())?)
            }),
        ),
        (
            "MessagePack named + zstd 1",
            zstd_on(1, msgpack_named),
            unzstd(unmsgpack),
        ),
        (
            "MessagePack named + zstd 3",
            zstd_on(3, msgpack_named),
            unzstd(unmsgpack),
        ),
        (
            "MessagePack named + zstd 9",
            zstd_on(9, msgpack_named),
            unzstd(unmsgpack),
        ),
        (
            "checkpoint::encode (MessagePack named + zstd 3, header, CRC-32)",
            Box::new(|s| checkpoint::encode(s, 217_687)),
            Box::new(|b| {
                checkpoint::decode(b)
                    .map(|(s, _)| s)
                    .map_err(|e| e.to_string())
            }),
        ),
    ];
    println!(
        "| encoding | bytes | bytes/op | encode | decode | decode ÷ clone | reads back equal |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for (name, enc, dec) in &candidates {
        let (encode, bytes) = median(|| enc(&state));
        let (decode, back) = median(|| dec(&bytes));
        let verdict = match &back {
            Ok(s) if *s == state => "yes".to_string(),
            Ok(_) => "no: a different state".to_string(),
            Err(e) => format!("no: {}", e.chars().take(60).collect::<String>()),
        };
        let (decode_ms, ratio) = if back.is_ok() {
            (
                format!("{:.0} ms", decode.as_secs_f64() * 1e3),
                format!("{:.1}", decode.as_secs_f64() / clone.as_secs_f64()),
            )
        } else {
            ("—".into(), "—".into())
        };
        println!(
            "| {name} | {} | {:.0} | {:.0} ms | {decode_ms} | {ratio} | {verdict} |",
            bytes.len(),
            bytes.len() as f64 / ops.len() as f64,
            encode.as_secs_f64() * 1e3,
        );
    }
}
