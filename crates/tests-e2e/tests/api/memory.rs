//! Memory the auth server must give back.

use demo::process::rss_anon_kib;

use crate::helpers::World;

/// Every argon2 check (the seed users' configured passwords at start-up, every sign-in)
/// takes 19 MiB. Without the auth server's allocator setting (main.rs), glibc serves the
/// ones after the first from its heap and keeps them: about 20 MiB more anonymous memory for
/// the life of the process. The bound sits between the two (about 3 MiB with the setting).
pub(crate) fn assert_password_hashing_memory_given_back(world: &World) {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let pid = world.auth.as_ref().and_then(|s| s.pid()).unwrap();
    let anon = rss_anon_kib(pid).unwrap();
    assert!(
        anon < 12 * 1024,
        "auth-server keeps {anon} KiB of anonymous memory after its password checks"
    );
}
