//! Static checks of `Dockerfile`, `docker-compose.yml` and `.env.example` (no Docker engine
//! runs here): every variable is one the services accept, the compose environments start
//! the real binaries, ports, targets, health checks and the two names agree, and the
//! commands use real subcommands and flags.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use demo::process::Server;
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

/// Starts a server binary with `env` (port 0, loopback, data in `dir`) and waits for its
/// `listening on` line: an unknown or invalid variable stops it with an error.
fn starts_with(binary: &str, env: &BTreeMap<String, String>, dir: &Path) {
    let prefix = if binary == "auth-server" {
        "AUTH_SERVER_"
    } else {
        "RESOURCE_SERVER_"
    };
    let mut command = Command::new(bin_dir().join(binary));
    command
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
    let server = Server::start(binary, command, &dir.join(format!("{binary}.log")));
    if let Err(e) = server {
        panic!("{binary} refused {env:?}: {e:#}");
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
    starts_with("auth-server", &only("AUTH_SERVER_"), dir.path());
    starts_with("resource-server", &only("RESOURCE_SERVER_"), dir.path());
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

/// `FROM … AS <target>` stages and, per stage, its `EXPOSE`, `ENTRYPOINT` and `ENV` names.
#[derive(Debug, Default)]
struct Stage {
    from: String,
    expose: Vec<String>,
    entrypoint: String,
    env: Vec<String>,
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

/// docker-compose.yml: three services (plus PostgreSQL and two auth-server replicas in the
/// `scale` profile) built from real targets, ports and health checks that match, a named
/// volume for the auth server's data, `.env` passed in, the two names, and a demo client
/// command made of real subcommands and flags.
#[test]
fn the_compose_file_agrees_with_the_services() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    let stages = dockerfile();
    let example = env_example();
    let names: BTreeSet<&str> = services.keys().filter_map(Yaml::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "auth-server",
            "resource-server",
            "demo-client",
            "postgres",
            "auth-server-replica"
        ])
    );
    for (name, service) in services {
        let name = name.as_str().unwrap();
        let profiles = service["profiles"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            !profiles.is_empty(),
            ["postgres", "auth-server-replica"].contains(&name),
            "{name}: only the scale services have a profile"
        );
        if name == "postgres" {
            continue;
        }
        let target = service["build"]["target"].as_str().unwrap();
        assert!(
            stages.contains_key(target),
            "{name}: no Dockerfile target {target}"
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
        if let Some(port) = env.get(&format!("{prefix}HTTP__PORT")) {
            assert_eq!(env[&format!("{prefix}HTTP__HOST")], "0.0.0.0", "{name}");
            let test = service["healthcheck"]["test"].as_sequence().unwrap();
            let url = test.last().unwrap().as_str().unwrap();
            assert_eq!(url, format!("http://127.0.0.1:{port}/healthz"), "{name}");
            assert_eq!(stages[target].expose, std::slice::from_ref(port), "{name}");
            if name != "auth-server-replica" {
                // Loopback only: the public names are localhost, and the demo AS
                // auto-approves, so it must not be reachable from the network.
                let published = service["ports"][0].as_str().unwrap();
                assert_eq!(published, format!("127.0.0.1:{port}:{port}"), "{name}");
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
        environment(&services["auth-server-replica"])["AUTH_SERVER_ISSUER"],
        "http://localhost:9000"
    );
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

/// The compose environments start the real services (ports, data and database moved to
/// this machine): their values, not only their names, are valid.
#[test]
fn the_compose_environments_start_the_real_services() {
    let compose = compose();
    let services = &compose["services"];
    let dir = tempfile::tempdir().unwrap();
    for (name, binary) in [
        ("auth-server", "auth-server"),
        ("auth-server-replica", "auth-server"),
        ("resource-server", "resource-server"),
    ] {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        starts_with(binary, &environment(&services[name]), &sub);
    }
}
