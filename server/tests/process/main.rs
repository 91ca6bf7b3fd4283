//! Tests of the real `linli` binary run as a child process, where what matters is seen from outside the process:
//! its memory (`/proc/<pid>/status`) and its log output.

mod common;
mod login;
mod memory;
mod redaction;
