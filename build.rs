//! Makes cargo rebuild when migrations change (embed_migrations! does not notice new files)
//! and exposes a fingerprint of them to the code.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

fn visit(dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            visit(&path, files);
        } else if let Ok(bytes) = std::fs::read(&path) {
            files.push((path.display().to_string(), bytes));
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let mut files = Vec::new();
    visit(Path::new("migrations"), &mut files);
    files.sort();
    let mut hasher = DefaultHasher::new();
    files.hash(&mut hasher);
    println!(
        "cargo:rustc-env=ROLLCALL_MIGRATIONS_FINGERPRINT={:016x}",
        hasher.finish()
    );
}
