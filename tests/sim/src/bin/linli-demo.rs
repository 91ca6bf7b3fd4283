//! `linli-demo`: a server on a temporary database seeded like the pilot community, a field day played through real
//! replicas, then the server left running with the dashboard URL and an admin login printed.

fn main() {}
