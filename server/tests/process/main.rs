//! Tests of the real `linli` binary run as a child process, where what matters is seen from outside the process:
//! its memory (`/proc/<pid>/status`), its log output, and what it keeps across a clean shutdown.

mod cache;
mod common;
mod login;
mod memory;
mod redaction;
