//! The demo journey over the real binaries, with each way of registering: a Client ID
//! Metadata Document (the demo), dynamic registration, and a pre-registered client.

use demo::journey::{self, Registration};

use crate::helpers::{Options, World};

fn run(registration: impl FnOnce(&World) -> Registration) -> Vec<journey::DemoStep> {
    let world = World::start(Options::default());
    let client = world.client("journey");
    let registration = registration(&world);
    journey::run(&client, &world.resource, &registration, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// The demo: discovery, CIMD registration, PKCE, whoami, 403 insufficient_scope, step-up,
/// get_weather, refresh and revocation; every step checked by `demo::journey::run`.
#[test]
fn the_demo_journey_with_a_client_id_metadata_document() {
    let steps = run(|w| Registration::Cimd(w.cimd_url.clone()));
    assert_eq!(
        steps.iter().map(|s| s.n).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert!(steps[1].title.contains("Client ID Metadata Document"));
    assert!(
        steps[0].lines[0].contains("401"),
        "the journey starts with the 401 challenge: {:?}",
        steps[0].lines
    );
    assert!(
        steps[3]
            .lines
            .iter()
            .any(|l| l.contains("insufficient_scope"))
    );
    assert!(
        steps[5]
            .lines
            .iter()
            .any(|l| l.contains("refuses the revoked refresh token"))
    );
}

/// The same journey with RFC 7591 dynamic registration.
#[test]
fn the_journey_with_dynamic_client_registration() {
    let steps = run(|_| Registration::Dcr);
    assert!(steps[1].title.contains("dynamic client registration"));
    assert!(
        steps[1]
            .lines
            .iter()
            .any(|l| l.contains("Registered dynamically"))
    );
}

/// The same journey with the pre-registered public client `demo-client`.
#[test]
fn the_journey_with_a_pre_registered_client() {
    let steps = run(|_| Registration::PreRegistered("demo-client".into()));
    assert!(steps[1].title.contains("pre-registered"));
}
