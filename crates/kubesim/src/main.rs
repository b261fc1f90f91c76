//! `kubesim`: serve a seeded in-memory cluster on 127.0.0.1 (placeholder until the binary lands).

fn main() {
    eprintln!("kubesim: the standalone server is not built yet");
    std::process::exit(1);
}
