//! A loopback TCP proxy in front of the server that can cut a connection *after the server answered*: it forwards
//! the request, waits for the first byte of the answer (the server answers a sync only after its transaction
//! committed), then closes the phone's connection without passing the answer on. The phone sees a dropped
//! connection for a push the server stored, and must retry without doubling anything.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// A running proxy.
#[derive(Debug)]
pub struct CutProxy {
    /// `http://127.0.0.1:PORT` of the proxy.
    pub base: String,
    cuts_left: Arc<AtomicUsize>,
    cut_done: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: String,
}

impl CutProxy {
    /// A proxy to `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> CutProxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address").to_string();
        let cuts_left = Arc::new(AtomicUsize::new(0));
        let cut_done = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (left, done, halt) = (cuts_left.clone(), cut_done.clone(), stop.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let cut = left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let upstream = upstream.clone();
                let done = done.clone();
                thread::spawn(move || serve(client, &upstream, cut, &done));
            }
        });
        CutProxy {
            base: format!("http://{addr}"),
            cuts_left,
            cut_done,
            stop,
            addr,
        }
    }

    /// Cut the answers of the next `n` connections.
    pub fn cut_next(&self, n: usize) {
        self.cuts_left.store(n, Ordering::SeqCst);
    }

    /// How many answers were cut so far (each after the server had started answering).
    pub fn cuts(&self) -> usize {
        self.cut_done.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

fn serve(client: TcpStream, upstream: &str, cut: bool, done: &AtomicUsize) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // Phone → server: always forwarded.
    let up = thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    if cut {
        // Wait for the server's first byte: the answer exists, so the push was committed. Then drop it.
        let mut first = [0u8; 1];
        if matches!(s_read.read(&mut first), Ok(n) if n > 0) {
            done.fetch_add(1, Ordering::SeqCst);
        }
        let _ = c_write.shutdown(Shutdown::Both);
        let _ = s_read.shutdown(Shutdown::Both);
    } else {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match s_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = c_write.shutdown(Shutdown::Both);
    }
    let _ = up.join();
}
