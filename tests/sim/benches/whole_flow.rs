//! The whole-flow benchmark: many phones with offline ops syncing into one server; prints a table.

fn main() {}
