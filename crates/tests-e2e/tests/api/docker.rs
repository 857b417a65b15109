//! Static checks of `Dockerfile`, `docker-compose.yml`, `.env.example` and the files mounted
//! into containers (`deploy/`), since no Docker engine runs here: every variable is one the
//! services accept, the compose environments and commands start the real binaries, ports,
//! targets, health checks, start order and the two names agree, the commands use real
//! subcommands and flags, and the `scale` profile's load balancer (nginx, which the tests do
//! not run) fronts the replicas that exist, which trust it, for the resource server that
//! exists. The `scale` stack itself runs here without containers: the migration, the
//! replicas (on the test PostgreSQL when `TEST_DATABASE_URL` is set) and its resource server.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use demo::process::Server;
use reqwest::StatusCode;
use serde_json::{Value, json};
use serde_yaml::Value as Yaml;

use crate::helpers::bin_dir;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

const SERVICES: [(&str, &str); 3] = [
    ("AUTH_SERVER_", "auth-server"),
    ("RESOURCE_SERVER_", "resource-server"),
    ("MCP_CLIENT_", "mcp-client"),
];

/// `NAME=value` lines of `.env.example`, commented out or not.
fn env_example() -> BTreeMap<String, String> {
    read(".env.example")
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches('#').trim();
            let (k, v) = l.split_once('=')?;
            (!k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                .then(|| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The environment variables a service's `config/default.toml` implies: `PREFIX_KEY` for
/// top-level keys, `PREFIX_SECTION__KEY` (and deeper) in sections; array tables and the
/// auth server's list settings are file-only.
fn expected_vars(prefix: &str, crate_dir: &str) -> BTreeSet<String> {
    let text = read(&format!("crates/{crate_dir}/config/default.toml"));
    let mut section: Option<String> = None;
    let mut in_array_table = false;
    let mut vars = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("[[") {
            in_array_table = true;
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.replace('.', "__").to_uppercase());
            in_array_table = false;
            continue;
        }
        if line.starts_with('#') || !line.contains('=') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap();
        let key = key.trim().to_uppercase();
        let file_only = prefix == "AUTH_SERVER_" && value.trim().starts_with('[');
        if file_only || in_array_table {
            continue;
        }
        vars.insert(match &section {
            Some(s) => format!("{prefix}{s}__{key}"),
            None => format!("{prefix}{key}"),
        });
    }
    vars
}

/// `binary` with `args` and only `env` (plus `PATH`), moved to this machine: bound to
/// loopback on a free port and, for the auth server, on the SQLite database in `dir`.
fn host_command(
    binary: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    dir: &Path,
) -> Command {
    let prefix = if binary == "auth-server" {
        "AUTH_SERVER_"
    } else {
        "RESOURCE_SERVER_"
    };
    let mut command = Command::new(bin_dir().join(binary));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command.envs(env);
    command
        .env(format!("{prefix}HTTP__HOST"), "127.0.0.1")
        .env(format!("{prefix}HTTP__PORT"), "0");
    if binary == "auth-server" {
        command
            .env("AUTH_SERVER_DATABASE__DATA_DIR", dir.join("data"))
            .env("AUTH_SERVER_DATABASE__URL", "");
    }
    command
}

/// Starts a server binary with `args` and `env` (see [`host_command`]) and waits for its
/// `listening on` line: an unknown or invalid variable or file stops it with an error.
fn starts_with(binary: &str, args: &[String], env: &BTreeMap<String, String>, dir: &Path) {
    let command = host_command(binary, args, env, dir);
    let server = Server::start(binary, command, &dir.join(format!("{binary}.log")));
    if let Err(e) = server {
        panic!("{binary} {args:?} refused {env:?}: {e:#}");
    }
}

/// Every variable in `.env.example` belongs to a service, the list is complete against
/// each service's `config/default.toml`, and each service starts with all of its variables
/// set to the values shown.
#[test]
fn every_variable_in_env_example_is_accepted_by_its_service() {
    let example = env_example();
    for name in example.keys() {
        assert!(
            SERVICES.iter().any(|(p, _)| name.starts_with(p)) || name == "POSTGRES_PASSWORD",
            "{name} belongs to no service"
        );
    }
    for (prefix, crate_dir) in SERVICES {
        let listed: BTreeSet<String> = example
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        assert_eq!(
            listed,
            expected_vars(prefix, crate_dir),
            ".env.example vs crates/{crate_dir}/config/default.toml"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let only = |prefix: &str| -> BTreeMap<String, String> {
        example
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    starts_with("auth-server", &[], &only("AUTH_SERVER_"), dir.path());
    starts_with(
        "resource-server",
        &[],
        &only("RESOURCE_SERVER_"),
        dir.path(),
    );
    let mut client_env = only("MCP_CLIENT_");
    client_env.insert(
        "MCP_CLIENT_STORE__PATH".into(),
        dir.path().join("credentials.json").display().to_string(),
    );
    let status = Command::new(bin_dir().join("mcp-client"))
        .arg("status")
        .envs(&client_env)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "mcp-client refused {client_env:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

fn compose() -> Yaml {
    serde_yaml::from_str(&read("docker-compose.yml")).unwrap()
}

fn environment(service: &Yaml) -> BTreeMap<String, String> {
    service["environment"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Yaml::String(s) => s.clone(),
                        other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
                    };
                    (k.as_str().unwrap().to_owned(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The services of the `scale` profile (the second stack); every other service has none.
const SCALE: [&str; 5] = [
    "postgres",
    "auth-server-migrate",
    "auth-server-replica",
    "auth-lb",
    "resource-server-scale",
];

/// Services that run an official image as it is, not a target of our Dockerfile: only these,
/// each pinned to this image.
const UPSTREAM_IMAGES: [(&str, &str); 2] = [
    ("postgres", "postgres:16-bookworm"),
    ("auth-lb", "nginx:1.30-alpine"),
];

/// A one-shot service runs to completion (`restart: "no"`): it is judged by its exit status,
/// not by a health check.
fn one_shot(service: &Yaml) -> bool {
    service["restart"] == "no"
}

/// A file of the repository mounted into a container (`./path:/container/path:ro`).
#[derive(Debug, Clone, PartialEq)]
struct BindMount {
    /// Relative to the repository root.
    source: String,
    target: String,
    read_only: bool,
}

fn bind_mounts(service: &Yaml) -> Vec<BindMount> {
    service["volumes"]
        .as_sequence()
        .map(|volumes| {
            volumes
                .iter()
                .filter_map(|v| {
                    let v = v.as_str().unwrap();
                    let rest = v.strip_prefix("./")?;
                    let mut parts = rest.split(':');
                    Some(BindMount {
                        source: parts.next().unwrap().to_owned(),
                        target: parts.next().unwrap().to_owned(),
                        read_only: parts.next() == Some("ro"),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A service's `command` as it runs on this machine: each container path of a bind mount
/// becomes the repository file mounted there.
fn host_args(service: &Yaml) -> Vec<String> {
    let mounts = bind_mounts(service);
    service["command"]
        .as_sequence()
        .map(|args| {
            args.iter()
                .map(|a| {
                    let a = a.as_str().unwrap();
                    mounts.iter().find(|m| m.target == a).map_or_else(
                        || a.to_owned(),
                        |m| root().join(&m.source).display().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The one published port of a service, from `127.0.0.1:P:P` (loopback only, same port).
fn published_port(name: &str, service: &Yaml) -> String {
    let ports = service["ports"].as_sequence().unwrap();
    assert_eq!(ports.len(), 1, "{name}: one published port");
    let published = ports[0].as_str().unwrap();
    let port = published.rsplit(':').next().unwrap();
    // Loopback only: the public names are localhost, and the demo ASes auto-approve, so they
    // must not be reachable from the network.
    assert_eq!(published, format!("127.0.0.1:{port}:{port}"), "{name}");
    port.to_owned()
}

/// `FROM … AS <target>` stages and, per stage, its `EXPOSE`, `ENTRYPOINT`, `ENV` names and
/// whether it has a `HEALTHCHECK`.
#[derive(Debug, Default)]
struct Stage {
    from: String,
    expose: Vec<String>,
    entrypoint: String,
    env: Vec<String>,
    healthcheck: bool,
}

fn dockerfile() -> BTreeMap<String, Stage> {
    let mut stages = BTreeMap::new();
    let mut current = String::new();
    let mut in_env = false;
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        if in_env || words.first() == Some(&"ENV") {
            let stage: &mut Stage = stages.entry(current.clone()).or_default();
            for word in &words {
                if let Some((name, _)) = word.split_once('=') {
                    stage.env.push(name.to_owned());
                }
            }
            in_env = line.ends_with('\\');
            continue;
        }
        match words.as_slice() {
            ["FROM", image, "AS", name] => {
                current = (*name).to_owned();
                stages.entry(current.clone()).or_insert_with(|| Stage {
                    from: (*image).to_owned(),
                    ..Stage::default()
                });
            }
            ["HEALTHCHECK", ..] => stages.entry(current.clone()).or_default().healthcheck = true,
            ["EXPOSE", ports @ ..] => stages
                .entry(current.clone())
                .or_default()
                .expose
                .extend(ports.iter().map(|p| (*p).to_owned())),
            ["ENTRYPOINT", rest @ ..] => {
                stages.entry(current.clone()).or_default().entrypoint = rest
                    .join(" ")
                    .trim_matches(|c| c == '[' || c == ']' || c == '"')
                    .to_owned();
            }
            _ => {}
        }
    }
    stages
}

/// The Dockerfile: multi-stage with a cached dependency layer, a non-root slim runtime, one
/// target per service running its binary on its default port, and only real variables.
#[test]
fn the_dockerfile_builds_each_service_as_a_non_root_target() {
    let text = read("Dockerfile");
    let cook = text
        .find("cargo chef cook")
        .expect("a cached dependency layer");
    let sources = text
        .find("COPY . .\nRUN cargo build")
        .expect("sources copied after");
    assert!(
        cook < sources,
        "dependencies are built before the sources are copied"
    );
    assert!(text.contains("FROM debian:bookworm-slim AS runtime"));
    let user = text
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "{user}"
    );
    let stages = dockerfile();
    let example = env_example();
    for (binary, port) in [
        ("auth-server", Some("9000")),
        ("resource-server", Some("8001")),
        ("mcp-client", None),
    ] {
        assert!(
            text.contains(&format!("--bin {binary}")),
            "{binary} is built"
        );
        assert!(
            bin_dir().join(binary).exists(),
            "{binary} is a workspace binary"
        );
        let stage = stages
            .get(binary)
            .unwrap_or_else(|| panic!("no target {binary}"));
        assert_eq!(stage.from, "runtime", "{binary} runs on the slim runtime");
        assert_eq!(stage.entrypoint, binary);
        assert_eq!(
            stage.expose,
            port.into_iter().map(str::to_owned).collect::<Vec<_>>()
        );
        for name in &stage.env {
            assert!(
                example.contains_key(name),
                "{binary}: {name} is not a real variable"
            );
        }
    }
}

/// docker-compose.yml: three services, plus the `scale` profile's second stack; each built
/// from a real target or run from an allowed official image; ports published on loopback
/// and health checks that match the port each service sets; a start order whose every step
/// waits for the right condition; mounted files that exist; a named volume for the auth
/// server's data, `.env` passed in, the two names, and a demo client command made of real
/// subcommands and flags.
#[test]
fn the_compose_file_agrees_with_the_services() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    let stages = dockerfile();
    let example = env_example();
    let names: BTreeSet<&str> = services.keys().filter_map(Yaml::as_str).collect();
    let mut expected = BTreeSet::from(["auth-server", "resource-server", "demo-client"]);
    expected.extend(SCALE);
    assert_eq!(names, expected);
    for (name, service) in services {
        let name = name.as_str().unwrap();
        let scale = SCALE.contains(&name);
        let profiles = service["profiles"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        let expected_profiles = if scale {
            vec![Yaml::from("scale")]
        } else {
            Vec::new()
        };
        assert_eq!(
            profiles, expected_profiles,
            "{name}: only the scale services have a profile"
        );
        // The scale stack has a network of its own (auth-lb's fixed address lives there).
        let on_scale_network = service["networks"]
            .as_sequence()
            .map(|n| n.contains(&Yaml::from("scale")))
            .or_else(|| {
                service["networks"]
                    .as_mapping()
                    .map(|n| n.contains_key("scale"))
            })
            .unwrap_or(false);
        assert_eq!(on_scale_network, scale, "{name}: networks");

        // Start order: every dependency exists in the same stack, and is waited for until it
        // is healthy, or, for a one-shot service, until it exited successfully.
        if let Some(depends_on) = service["depends_on"].as_mapping() {
            for (dependency, how) in depends_on {
                let dependency = dependency.as_str().unwrap();
                assert!(
                    names.contains(dependency),
                    "{name}: no service {dependency}"
                );
                assert_eq!(
                    SCALE.contains(&dependency),
                    scale,
                    "{name} depends on {dependency} of the other stack"
                );
                let condition = if one_shot(&services[dependency]) {
                    "service_completed_successfully"
                } else {
                    "service_healthy"
                };
                assert_eq!(how["condition"], condition, "{name} → {dependency}");
            }
        }

        // Mounted files are in the repository, and read-only in the container.
        for mount in bind_mounts(service) {
            assert!(
                root().join(&mount.source).is_file(),
                "{name}: ./{} does not exist",
                mount.source
            );
            assert!(
                mount.read_only,
                "{name}: ./{} is mounted writable",
                mount.source
            );
        }

        let Some(target) = service["build"]["target"].as_str() else {
            // Not built here: an official image, from the allowed list only.
            let allowed = UPSTREAM_IMAGES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, image)| *image);
            assert!(
                allowed.is_some(),
                "{name}: neither built nor an allowed image"
            );
            assert_eq!(
                service["image"].as_str(),
                allowed,
                "{name}: an image not built from the Dockerfile must be allowed in UPSTREAM_IMAGES"
            );
            assert!(
                service["healthcheck"]["test"].as_sequence().is_some(),
                "{name}: a health check"
            );
            continue;
        };
        assert!(
            stages.contains_key(target),
            "{name}: no Dockerfile target {target}"
        );
        assert_eq!(
            service["image"].as_str().unwrap(),
            format!("mcp-auth/{target}"),
            "{name}: the image built from target {target}"
        );
        assert_eq!(
            service["env_file"][0]["path"], ".env",
            "{name}: env from .env"
        );
        let env = environment(service);
        let prefix = SERVICES
            .iter()
            .find(|(_, t)| *t == target)
            .map(|(p, _)| *p)
            .unwrap();
        for var in env.keys() {
            assert!(var.starts_with(prefix), "{name}: {var} is not for {target}");
            assert!(
                example.contains_key(var),
                "{name}: {var} is not in .env.example"
            );
        }
        if one_shot(service) {
            // Judged by its exit status: no health check, and the image's own (curl on a
            // port nothing listens on) is switched off.
            assert!(service["healthcheck"]["test"].is_null(), "{name}");
            if stages[target].healthcheck {
                assert_eq!(
                    service["healthcheck"]["disable"], true,
                    "{name}: the {target} image's HEALTHCHECK is disabled"
                );
            }
            continue;
        }
        if let Some(port) = env.get(&format!("{prefix}HTTP__PORT")) {
            assert_eq!(env[&format!("{prefix}HTTP__HOST")], "0.0.0.0", "{name}");
            let test = service["healthcheck"]["test"].as_sequence().unwrap();
            let url = test.last().unwrap().as_str().unwrap();
            assert_eq!(url, format!("http://127.0.0.1:{port}/healthz"), "{name}");
            if stages[target].expose != std::slice::from_ref(port) {
                // EXPOSE names the image's default port; only the second stack moves it.
                assert!(
                    scale,
                    "{name}: port {port}, the image exposes {:?}",
                    stages[target].expose
                );
            }
            if name == "auth-server-replica" {
                // Reachable through the load balancer only
                // (the_load_balancer_fronts_the_replicas).
                assert!(service["ports"].is_null(), "{name} publishes no port");
            } else {
                assert_eq!(&published_port(name, service), port, "{name}");
            }
        }
    }

    // The auth server's data is a named volume at its data directory.
    let auth = &services["auth-server"];
    let auth_env = environment(auth);
    let volume = auth["volumes"][0].as_str().unwrap();
    let (volume_name, mount) = volume.split_once(':').unwrap();
    assert!(
        compose["volumes"]
            .as_mapping()
            .unwrap()
            .contains_key(volume_name)
    );
    assert_eq!(mount, auth_env["AUTH_SERVER_DATABASE__DATA_DIR"]);

    // The two names: public strings everywhere a token or document carries them; the
    // compose name only as the resource server's internal URL.
    let rs_env = environment(&services["resource-server"]);
    assert_eq!(auth_env["AUTH_SERVER_ISSUER"], "http://localhost:9000");
    assert_eq!(
        rs_env["RESOURCE_SERVER_AUTHORIZATION_SERVER__ISSUER"],
        auth_env["AUTH_SERVER_ISSUER"]
    );
    assert_eq!(
        rs_env["RESOURCE_SERVER_AUTHORIZATION_SERVER__INTERNAL_URL"],
        format!("http://auth-server:{}", auth_env["AUTH_SERVER_HTTP__PORT"])
    );
    assert_eq!(
        rs_env["RESOURCE_SERVER_RESOURCE__URI"],
        "http://localhost:8001/mcp"
    );
    let demo = &services["demo-client"];
    assert_eq!(
        demo["network_mode"], "host",
        "the demo client sees the public URLs"
    );
    // The command is a shell script (entrypoint `sh -ec`): every `mcp-client` line must use
    // a real subcommand, the public resource URL, and flags that subcommand really has, and
    // together they must walk the whole journey.
    assert_eq!(
        demo["entrypoint"].as_sequence().unwrap(),
        &vec![Yaml::from("/bin/sh"), Yaml::from("-ec")]
    );
    let script = demo["command"][0].as_str().unwrap();
    let client = bin_dir().join("mcp-client");
    let help = Command::new(&client).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let mut journey = Vec::new();
    for line in script.lines().filter(|l| l.starts_with("mcp-client ")) {
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        let (subcommand, url) = (words[0], words[1]);
        assert_eq!(url, rs_env["RESOURCE_SERVER_RESOURCE__URI"], "{line}");
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{subcommand} "))),
            "{subcommand} is not a subcommand: {help}"
        );
        let sub_help = Command::new(&client)
            .args([subcommand, "--help"])
            .output()
            .unwrap();
        let sub_help = String::from_utf8_lossy(&sub_help.stdout);
        for flag in words.iter().filter(|w| w.starts_with("--")) {
            assert!(
                sub_help.contains(flag),
                "{flag} is not a flag of {subcommand}"
            );
        }
        journey.push(match subcommand {
            "call" => format!("call {}", words[2]),
            other => other.to_owned(),
        });
    }
    assert_eq!(
        journey,
        [
            "login",
            "call whoami",
            "call get_weather",
            "refresh",
            "revoke"
        ],
        "the compose demo client walks the whole journey"
    );
    assert_eq!(
        auth_env["AUTH_SERVER_DEV__AUTO_APPROVE"], "true",
        "the headless demo client needs auto-approve"
    );
}

/// The compose environments and commands start the real services (ports, data and database
/// moved to this machine, mounted files read from the repository): their values, not only
/// their names, are valid.
#[test]
fn the_compose_environments_start_the_real_services() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut started = Vec::new();
    for (name, service) in services {
        let name = name.as_str().unwrap();
        let binary = service["build"]["target"].as_str().unwrap_or_default();
        if !["auth-server", "resource-server"].contains(&binary) || one_shot(service) {
            continue;
        }
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        starts_with(binary, &host_args(service), &environment(service), &sub);
        started.push(name);
    }
    assert_eq!(
        started,
        [
            "auth-server",
            "resource-server",
            "auth-server-replica",
            "resource-server-scale"
        ]
    );
}

/// One nginx directive: its name, its arguments and, for a block, the directives inside.
#[derive(Debug)]
struct Directive {
    name: String,
    args: Vec<String>,
    block: Vec<Directive>,
}

/// Reads nginx's configuration syntax: directives end with `;`, blocks are `{ … }`, `#`
/// starts a comment, and quotes group an argument. What the tests need from an nginx
/// configuration without nginx: the structure, and every directive with its arguments.
fn parse_nginx(text: &str) -> Result<Vec<Directive>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => while chars.next_if(|&c| c != '\n').is_some() {},
            '{' | '}' | ';' => {
                tokens.push((true, c.to_string()));
                chars.next();
            }
            '"' | '\'' => {
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(ch) => word.push(ch),
                        None => return Err(format!("unterminated {c}quote")),
                    }
                }
                tokens.push((false, word));
            }
            _ => {
                let mut word = String::new();
                while let Some(ch) =
                    chars.next_if(|&ch| !ch.is_whitespace() && !"{};#".contains(ch))
                {
                    word.push(ch);
                }
                tokens.push((false, word));
            }
        }
    }
    let mut tokens = tokens.into_iter();
    let directives = parse_block(&mut tokens, false)?;
    Ok(directives)
}

fn parse_block(
    tokens: &mut impl Iterator<Item = (bool, String)>,
    nested: bool,
) -> Result<Vec<Directive>, String> {
    let mut directives = Vec::new();
    let mut words: Vec<String> = Vec::new();
    while let Some((punctuation, token)) = tokens.next() {
        if !punctuation {
            words.push(token);
            continue;
        }
        let (name, args) = match token.as_str() {
            "}" if words.is_empty() && nested => return Ok(directives),
            "}" => return Err(format!("unexpected }} after {words:?}")),
            _ if words.is_empty() => return Err(format!("{token} without a directive")),
            _ => (words.remove(0), std::mem::take(&mut words)),
        };
        let block = if token == "{" {
            parse_block(tokens, true)?
        } else {
            Vec::new()
        };
        directives.push(Directive { name, args, block });
    }
    if nested {
        return Err("a block is not closed".into());
    }
    if !words.is_empty() {
        return Err(format!("{words:?} does not end with ;"));
    }
    Ok(directives)
}

/// The directives named `name` among `directives`.
fn all<'a>(directives: &'a [Directive], name: &str) -> Vec<&'a Directive> {
    directives.iter().filter(|d| d.name == name).collect()
}

/// The one directive named `name` among `directives`.
fn one<'a>(directives: &'a [Directive], name: &str) -> &'a Directive {
    let found = all(directives, name);
    assert_eq!(found.len(), 1, "one `{name}` directive: {directives:?}");
    found[0]
}

#[test]
fn the_nginx_reader_refuses_broken_syntax() {
    let good = parse_nginx("a 1; # note\nb { c \"x y\"; d { } }\n").unwrap();
    assert_eq!(good.len(), 2);
    assert_eq!(one(&good, "b").block[0].args, ["x y"]);
    for bad in ["a 1", "b { c;", "a; }", "{ a; }", "b { c; } }", "a \"x;"] {
        assert!(parse_nginx(bad).is_err(), "{bad:?} was accepted");
    }
}

/// An IPv4 network `a.b.c.d/n`.
fn network(cidr: &str) -> (Ipv4Addr, u32) {
    let (address, bits) = cidr.split_once('/').unwrap();
    (address.parse().unwrap(), bits.parse().unwrap())
}

fn contains((base, bits): (Ipv4Addr, u32), address: Ipv4Addr) -> bool {
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    u32::from(base) & mask == u32::from(address) & mask
}

/// The auth-server configuration file mounted into a service, from the repository.
fn mounted_auth_config(name: &str, service: &Yaml) -> (String, toml::Table) {
    let args = service["command"].as_sequence().unwrap();
    let at = args.iter().position(|a| a == "--config").unwrap();
    let path = args[at + 1].as_str().unwrap();
    let mount = bind_mounts(service)
        .into_iter()
        .find(|m| m.target == path)
        .unwrap_or_else(|| panic!("{name}: --config {path} is not a mounted file"));
    let text = read(&mount.source);
    let table = text
        .parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{}: {e}", mount.source));
    (mount.source, table)
}

/// The `scale` profile is one issuer behind one name: `auth-lb` (nginx, configured by a
/// mounted file) listens on the published port, resolves the replica service through
/// Docker's DNS, balances round-robin with no stickiness, replaces X-Forwarded-For with the
/// peer it saw, and has the fixed address that the replicas, and nothing else, trust. The
/// replicas name it as their issuer and publish nothing; the resource server requires that
/// issuer, reaches it through the balancer, and is a resource the replicas issue tokens for;
/// the migration runs first with the replicas' configuration, on the compose database.
#[test]
fn the_load_balancer_fronts_the_replicas() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    let lb = &services["auth-lb"];
    let replica = &services["auth-server-replica"];
    let replica_env = environment(replica);
    let lb_port = published_port("auth-lb", lb);
    let health = lb["healthcheck"]["test"].as_sequence().unwrap();
    assert_eq!(
        health.last().unwrap(),
        &Yaml::from(format!("http://127.0.0.1:{lb_port}/healthz")),
        "auth-lb is healthy when a replica answers through it"
    );

    // The nginx configuration: the one file mounted as nginx.conf.
    let mounts = bind_mounts(lb);
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert_eq!(mounts[0].target, "/etc/nginx/nginx.conf");
    let conf = parse_nginx(&read(&mounts[0].source))
        .unwrap_or_else(|e| panic!("{}: {e}", mounts[0].source));
    let http = &one(&conf, "http").block;
    // Docker's embedded DNS, re-asked periodically, so scaled or restarted replicas count.
    let resolver = one(http, "resolver");
    assert_eq!(resolver.args[0], "127.0.0.11", "{resolver:?}");
    let upstream = one(http, "upstream");
    assert!(
        !all(&upstream.block, "zone").is_empty(),
        "`resolve` needs a zone"
    );
    for balancing in [
        "hash",
        "ip_hash",
        "sticky",
        "least_conn",
        "random",
        "least_time",
    ] {
        assert!(
            all(&upstream.block, balancing).is_empty(),
            "round-robin, no stickiness: `{balancing}` is set"
        );
    }
    let server = one(&upstream.block, "server");
    let (host, port) = server.args[0].split_once(':').unwrap();
    assert!(
        server.args.iter().any(|a| a == "resolve"),
        "{server:?}: re-resolved, not resolved once at start"
    );
    assert_eq!(
        host, "auth-server-replica",
        "the upstream is the replica service"
    );
    assert_eq!(
        port, replica_env["AUTH_SERVER_HTTP__PORT"],
        "the replicas' port"
    );
    let listener = one(http, "server");
    assert_eq!(
        one(&listener.block, "listen").args,
        std::slice::from_ref(&lb_port)
    );
    let location = all(&listener.block, "location")
        .into_iter()
        .find(|l| l.args == ["/"])
        .expect("location /");
    assert_eq!(
        one(&location.block, "proxy_pass").args,
        [format!("http://{}", upstream.args[0])]
    );
    let forwarded: Vec<&Directive> = all(&location.block, "proxy_set_header")
        .into_iter()
        .filter(|h| h.args[0].eq_ignore_ascii_case("x-forwarded-for"))
        .collect();
    assert_eq!(forwarded.len(), 1);
    assert_eq!(
        forwarded[0].args[1], "$remote_addr",
        "the peer nginx saw replaces whatever the client sent"
    );

    // The access log: a format of this file, with no query string, header or body that
    // may carry a code, `state` or a credential.
    let formats: BTreeMap<&str, String> = all(http, "log_format")
        .into_iter()
        .map(|f| (f.args[0].as_str(), f.args[1..].concat()))
        .collect();
    let access_logs = all(http, "access_log");
    assert!(!access_logs.is_empty(), "requests are logged");
    for log in access_logs {
        let format = log.args.get(1).map(String::as_str);
        let format = format.and_then(|f| formats.get(f)).unwrap_or_else(|| {
            panic!("{log:?}: a log_format of this file (nginx's `combined` logs the query string)")
        });
        let variables: BTreeSet<String> = format
            .split('$')
            .skip(1)
            .map(|v| {
                v.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            })
            .collect();
        for variable in &variables {
            let leaks = [
                "request",
                "request_uri",
                "args",
                "query_string",
                "request_body",
            ]
            .contains(&variable.as_str())
                || variable.starts_with("arg_")
                || variable.starts_with("http_")
                || variable.starts_with("cookie_");
            assert!(!leaks, "the access log must not hold ${variable}");
        }
        assert!(
            variables.contains("upstream_addr"),
            "which replica answered"
        );
    }

    // The replicas trust exactly the balancer's fixed address, which no other container can
    // be given (outside the network's ip_range).
    let (config_file, config) = mounted_auth_config("auth-server-replica", replica);
    let address: Ipv4Addr = lb["networks"]["scale"]["ipv4_address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let trusted = config["http"]["trusted_proxies"].as_array().unwrap();
    assert_eq!(
        trusted,
        &vec![toml::Value::from(address.to_string())],
        "{config_file}: http.trusted_proxies is auth-lb's address"
    );
    let ipam = &compose["networks"]["scale"]["ipam"]["config"][0];
    assert!(contains(network(ipam["subnet"].as_str().unwrap()), address));
    assert!(!contains(
        network(ipam["ip_range"].as_str().unwrap()),
        address
    ));

    // One issuer: the balancer's public name, on every replica and in the resource server.
    let issuer = format!("http://localhost:{lb_port}");
    assert_eq!(replica_env["AUTH_SERVER_ISSUER"], issuer);
    let rs = &services["resource-server-scale"];
    let rs_env = environment(rs);
    assert_eq!(
        rs_env["RESOURCE_SERVER_AUTHORIZATION_SERVER__ISSUER"],
        issuer
    );
    assert_eq!(
        rs_env["RESOURCE_SERVER_AUTHORIZATION_SERVER__INTERNAL_URL"],
        format!("http://auth-lb:{lb_port}"),
        "the resource server reaches the AS through the balancer"
    );
    let resource = format!(
        "http://localhost:{}/mcp",
        published_port("resource-server-scale", rs)
    );
    assert_eq!(rs_env["RESOURCE_SERVER_RESOURCE__URI"], resource);
    let resources: Vec<&str> = config["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        resources,
        [resource.as_str()],
        "{config_file}: [[resources]]"
    );

    // The migration: the replicas' image, configuration and environment, `migrate` instead
    // of `serve`, before any replica starts.
    let migrate = &services["auth-server-migrate"];
    assert!(one_shot(migrate));
    assert_eq!(migrate["image"], replica["image"]);
    assert_eq!(migrate["build"], replica["build"]);
    assert_eq!(environment(migrate), replica_env);
    assert_eq!(bind_mounts(migrate), bind_mounts(replica));
    let mut command = replica["command"].as_sequence().unwrap().clone();
    assert_eq!(command.pop(), Some(Yaml::from("serve")));
    command.push(Yaml::from("migrate"));
    assert_eq!(migrate["command"].as_sequence().unwrap(), &command);
    assert!(
        replica["depends_on"]
            .as_mapping()
            .unwrap()
            .contains_key("auth-server-migrate")
    );
    // … on the compose database.
    let pg = environment(&services["postgres"]);
    assert_eq!(
        replica_env["AUTH_SERVER_DATABASE__URL"],
        format!(
            "postgres://{}:{}@postgres:5432/{}",
            pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"]
        )
    );
}

/// The claims of a JWT (not verified: the resource server does that).
fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The database of the scale stack on this machine: a fresh schema of the test PostgreSQL
/// (dropped at the end), or, without `TEST_DATABASE_URL`, SQLite in the test's directory.
struct ScaleDatabase {
    postgres: Option<(String, String)>,
}

impl ScaleDatabase {
    /// `dir` is the test's temporary directory.
    async fn create(dir: &Path) -> Self {
        let Some(url) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("no TEST_DATABASE_URL: one replica, on SQLite");
            return Self { postgres: None };
        };
        // Unique while `dir` exists: its random name.
        let tag: String = dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let schema = format!("e2e_scale_{}", tag.to_ascii_lowercase());
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        Self {
            postgres: Some((url, schema)),
        }
    }

    /// `AUTH_SERVER_DATABASE__URL` for the processes ("" = SQLite in the data directory).
    fn url(&self) -> String {
        self.postgres
            .as_ref()
            .map_or_else(String::new, |(url, schema)| {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}options=-c%20search_path%3D{schema}")
            })
    }
}

impl Drop for ScaleDatabase {
    /// Drops the schema, also after a failed assertion (on a thread of its own: this may run
    /// inside the test's runtime).
    fn drop(&mut self) {
        let Some((url, schema)) = self.postgres.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let admin = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&admin)
                .await
                .unwrap();
                admin.close().await;
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("the test schema could not be dropped");
        }
    }
}

/// The `scale` stack on this machine, without containers or nginx: `auth-server-migrate`
/// and two replicas run with their compose commands (the configuration read from
/// `deploy/`) and environments, on a fresh schema of the test PostgreSQL (without
/// `TEST_DATABASE_URL`: one replica, on SQLite). The migration runs first and succeeds;
/// every replica serves the balancer's issuer; a code issued at one replica for the scale
/// resource, to the demo client kept from the defaults, is redeemed at the other; and
/// `resource-server-scale` with its compose environment, reaching the AS where the balancer
/// would send it, accepts the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_profile_runs_on_the_host() {
    let compose = compose();
    let services = &compose["services"];
    let dir = tempfile::tempdir().unwrap();
    let database = ScaleDatabase::create(dir.path()).await;
    let url = database.url();
    let replicas = if url.is_empty() { 1 } else { 2 };

    let migrate = &services["auth-server-migrate"];
    let mut command = host_command(
        "auth-server",
        &host_args(migrate),
        &environment(migrate),
        dir.path(),
    );
    command.env("AUTH_SERVER_DATABASE__URL", &url);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "auth-server-migrate: {out:?}");
    let backend = if url.is_empty() { "sqlite" } else { "postgres" };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{backend} database is up to date")
    );

    let replica = &services["auth-server-replica"];
    let replica_env = environment(replica);
    let issuer = replica_env["AUTH_SERVER_ISSUER"].clone();
    let mut started = Vec::new();
    for i in 0..replicas {
        let mut command =
            host_command("auth-server", &host_args(replica), &replica_env, dir.path());
        command.env("AUTH_SERVER_DATABASE__URL", &url);
        let log = dir.path().join(format!("auth-server-replica-{i}.log"));
        let server = tokio::task::spawn_blocking(move || {
            Server::start("auth-server-replica", command, &log)
        })
        .await
        .unwrap()
        .unwrap();
        started.push(server);
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for server in &started {
        let metadata: Value = http
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                server.listening
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(metadata["issuer"], issuer.as_str(), "{}", server.listening);
    }

    // A code at the first replica, redeemed at the last (on PostgreSQL, another process).
    // The file's [[resources]] replaced the default resource; the demo client is the
    // default one.
    let rs = &services["resource-server-scale"];
    let rs_env = environment(rs);
    let resource = rs_env["RESOURCE_SERVER_RESOURCE__URI"].clone();
    let verifier = mcp_auth_core::pkce::CodeVerifier::generate();
    let redirect_uri = "http://127.0.0.1/callback";
    let authorize = |resource: &str| {
        http.get(format!("{}/authorize", started[0].listening))
            .query(&[
                ("response_type", "code"),
                ("client_id", "demo-client"),
                ("redirect_uri", redirect_uri),
                ("code_challenge", verifier.challenge().as_str()),
                ("code_challenge_method", "S256"),
                ("state", "scale"),
                ("resource", resource),
                ("scope", "mcp:tools"),
            ])
            .send()
    };
    let query = |r: &reqwest::Response| -> BTreeMap<String, String> {
        let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        location.query_pairs().into_owned().collect()
    };
    let r = authorize("http://localhost:8001/mcp").await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "{:?}", r.text().await);
    assert_eq!(
        query(&r)["error"],
        "invalid_target",
        "the default stack's resource is not one of this stack's"
    );
    let r = authorize(&resource).await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "{:?}", r.text().await);
    let query = query(&r);
    assert_eq!(query["iss"], issuer);
    let r = http
        .post(format!("{}/token", started[replicas - 1].listening))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", query["code"].as_str()),
            ("redirect_uri", redirect_uri),
            ("client_id", "demo-client"),
            ("code_verifier", verifier.secret()),
            ("resource", resource.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let token: Value = r.json().await.unwrap();
    let access_token = token["access_token"].as_str().unwrap().to_owned();
    let claims = claims(&access_token);
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["aud"], resource.as_str());

    // The resource server, reaching the AS at the last replica (the balancer's role).
    let mut command = host_command("resource-server", &host_args(rs), &rs_env, dir.path());
    command.env(
        "RESOURCE_SERVER_AUTHORIZATION_SERVER__INTERNAL_URL",
        &started[replicas - 1].listening,
    );
    let log = dir.path().join("resource-server-scale.log");
    let rs_server =
        tokio::task::spawn_blocking(move || Server::start("resource-server-scale", command, &log))
            .await
            .unwrap()
            .unwrap();
    let metadata: Value = http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            rs_server.listening
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], resource.as_str());
    assert_eq!(metadata["authorization_servers"], json!([issuer]));
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "scale", "version": "0"}}});
    let mcp = |bearer: Option<&str>| {
        let mut request = http
            .post(format!("{}/mcp", rs_server.listening))
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let r = mcp(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&resource.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")),
        "{challenge}"
    );
    let r = mcp(Some(&access_token)).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the token is accepted: {:?}",
        r.text().await
    );

    // The servers stop before the schema is dropped (and, after a failed assertion, too:
    // they were declared after it).
    drop(rs_server);
    drop(started);
    drop(database);
}
