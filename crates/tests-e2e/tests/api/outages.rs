//! The auth server goes away: restarted mid-way, the client's refresh token still works;
//! down, the resource server keeps validating with its cached keys; back with a rotated
//! key, the resource server picks the new key up at the first token signed with it.

use crate::helpers::{Options, World, call, kid_of};

fn ok(doc: &serde_json::Value) {
    assert_eq!(doc["ok"], true, "{doc}");
}

/// Log in, restart the auth server (same data directory), refresh: the refresh token and
/// the signing key survived, and the new access token works at the resource server.
#[test]
fn the_refresh_token_still_works_after_an_auth_server_restart() {
    let mut world = World::start(Options::default());
    let client = world.client("restart");
    ok(&client.run(&call(&world.resource, "whoami", &[])).unwrap());
    let before = world.stored_access_token(&client);

    world.stop_auth();
    world.start_auth();

    let refreshed = client
        .run(&["refresh".to_owned(), world.resource.clone()])
        .unwrap();
    ok(&refreshed);
    assert_eq!(refreshed["result"]["refresh_token_rotated"], true);
    let after = world.stored_access_token(&client);
    assert_ne!(before, after);
    assert_eq!(kid_of(&before), kid_of(&after), "the signing key survived");
    let whoami = client.run(&call(&world.resource, "whoami", &[])).unwrap();
    ok(&whoami);
    let kinds: Vec<&str> = whoami["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(
        !kinds.contains(&"authorize.request"),
        "no new authorization was needed: {kinds:?}"
    );
}

/// With the auth server down the resource server still accepts a valid token (cached
/// JWKS). After `auth-server key rotate --now` and a restart, a refreshed token carries the new
/// `kid`, which the resource server fetches and accepts.
#[test]
fn the_resource_server_survives_an_outage_and_picks_up_a_rotated_key() {
    let mut world = World::start(Options::default());
    let client = world.client("outage");
    ok(&client.run(&call(&world.resource, "whoami", &[])).unwrap());
    let old_kid = kid_of(&world.stored_access_token(&client));
    // A second token the resource server has never seen, so no validation cache helps.
    let unseen = world.client("unseen");
    ok(&unseen
        .run(&[
            "login".to_owned(),
            world.resource.clone(),
            "--headless".to_owned(),
        ])
        .unwrap());

    world.stop_auth();
    ok(&unseen.run(&call(&world.resource, "whoami", &[])).unwrap());
    ok(&client.run(&call(&world.resource, "whoami", &[])).unwrap());

    // The only auth server is stopped, so the new key may sign at once.
    let rotate = world.auth_admin(&["key", "rotate", "--now"]);
    assert!(
        rotate.status.success(),
        "{}",
        String::from_utf8_lossy(&rotate.stderr)
    );
    world.start_auth();
    ok(&client
        .run(&["refresh".to_owned(), world.resource.clone()])
        .unwrap());
    let new_kid = kid_of(&world.stored_access_token(&client));
    assert_ne!(
        old_kid, new_kid,
        "the refreshed token is signed with the new key"
    );
    let whoami = client.run(&call(&world.resource, "whoami", &[])).unwrap();
    ok(&whoami);
    let kinds: Vec<&str> = whoami["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(
        !kinds.contains(&"token.refresh") && !kinds.contains(&"authorize.request"),
        "the resource server accepted the new key's token at once: {kinds:?}"
    );
}
