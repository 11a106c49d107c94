fn main() -> std::process::ExitCode {
    tune_malloc();
    rollcall::cli::main()
}

/// glibc's allocator gives every thread that meets contention an arena of its own (up to
/// eight per core) and keeps what each frees; with a database pool and its threads that
/// added up to 60–80 MB of memory held but unused under a burst. Two arenas, and blocks over
/// 128 KiB returned to the system when freed, keep the server near what it really uses.
/// `MALLOC_ARENA_MAX` in the environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: `mallopt` only sets allocator parameters; it runs here before any other
    // thread exists, and invalid values are refused by glibc (returns 0), not undefined.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
