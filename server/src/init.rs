//! Init hooks, as LocalStack has them: scripts in `<init dir>/{boot,start,ready,shutdown}.d/`
//! run once at each stage of squall's life, in name order, with their states at
//! `GET /_localstack/init` (and `/_squall/init`) in LocalStack's shape.
//!
//! - `boot.d`: before squall listens (the APIs do not answer yet);
//! - `start.d`: once it listens, before it says `Ready.`;
//! - `ready.d`: once ready: the place to create the resources a test suite expects;
//! - `shutdown.d`: when asked to stop, while the APIs still answer.
//!
//! `*.sh` runs with `sh`, `*.py` with `python3`, any other file with its executable bit
//! directly (squall's `FROM scratch` image has no shell: a static binary is what runs there).
//! Scripts get `AWS_ENDPOINT_URL` pointing at squall and, unless already set, test credentials
//! and the default region, so `aws`, boto3 and the SDKs reach squall unchanged. A script that
//! exits non-zero is `ERROR`; the stages after it still run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Stage {
    Boot,
    Start,
    Ready,
    Shutdown,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Boot, Stage::Start, Stage::Ready, Stage::Shutdown];

    fn dir(self) -> &'static str {
        match self {
            Stage::Boot => "boot.d",
            Stage::Start => "start.d",
            Stage::Ready => "ready.d",
            Stage::Shutdown => "shutdown.d",
        }
    }

    /// `boot`, `start`, `ready`, `shutdown` (the path segment of `/_localstack/init/<stage>`).
    pub fn parse(name: &str) -> Option<Self> {
        Stage::ALL.into_iter().find(|s| s.dir().trim_end_matches(".d").eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ScriptState {
    Unknown,
    Running,
    Successful,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Script {
    pub stage: Stage,
    pub name: String,
    pub state: ScriptState,
    #[serde(skip)]
    path: PathBuf,
}

/// The hooks found in one init directory and how far they have run.
#[derive(Debug, Default)]
pub struct InitHooks {
    dir: Option<PathBuf>,
    scripts: Mutex<Vec<Script>>,
    completed: Mutex<BTreeMap<Stage, bool>>,
}

/// The default init directory: squall's own, else LocalStack's (so a compose file that mounts
/// scripts at `/etc/localstack/init/ready.d` works unchanged), if either exists.
pub fn default_dir() -> Option<PathBuf> {
    ["/etc/squall/init", "/etc/localstack/init"].into_iter().map(PathBuf::from).find(|d| d.is_dir())
}

fn runnable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let ext = path.extension().and_then(|e| e.to_str());
    matches!(ext, Some("sh" | "py"))
        || std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl InitHooks {
    /// Lists the scripts of `dir` (none without a directory).
    pub fn discover(dir: Option<&Path>) -> Self {
        let mut scripts = Vec::new();
        // Absolute, since each script runs in its own directory (`--init-dir init` is relative).
        let dir = dir.map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf()));
        let dir = dir.as_deref();
        if let Some(dir) = dir {
            for stage in Stage::ALL {
                let Ok(entries) = std::fs::read_dir(dir.join(stage.dir())) else { continue };
                let mut paths: Vec<PathBuf> =
                    entries.flatten().map(|e| e.path()).filter(|p| p.is_file() && runnable(p)).collect();
                paths.sort();
                scripts.extend(paths.into_iter().map(|path| Script {
                    stage,
                    name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                    state: ScriptState::Unknown,
                    path,
                }));
            }
        }
        Self { dir: dir.map(Path::to_path_buf), scripts: Mutex::new(scripts), completed: Mutex::default() }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn set_state(&self, index: usize, state: ScriptState) {
        self.scripts.lock().unwrap_or_else(PoisonError::into_inner)[index].state = state;
    }

    /// Runs the stage's scripts one after another (blocking), with `env` added to squall's own
    /// environment; answers how many failed.
    pub fn run_stage(&self, stage: Stage, env: &[(String, String)]) -> usize {
        let todo: Vec<(usize, Script)> = {
            let scripts = self.scripts.lock().unwrap_or_else(PoisonError::into_inner);
            scripts.iter().cloned().enumerate().filter(|(_, s)| s.stage == stage).collect()
        };
        let mut failed = 0;
        for (index, script) in todo {
            self.set_state(index, ScriptState::Running);
            let ext = script.path.extension().and_then(|e| e.to_str());
            let mut command = match ext {
                Some("sh") => {
                    let mut c = Command::new("sh");
                    c.arg(&script.path);
                    c
                }
                Some("py") => {
                    let mut c = Command::new("python3");
                    c.arg(&script.path);
                    c
                }
                _ => Command::new(&script.path),
            };
            if let Some(dir) = script.path.parent() {
                command.current_dir(dir);
            }
            command.envs(env.iter().map(|(k, v)| (k, v)));
            let started = std::time::Instant::now();
            let outcome = command.output();
            let state = match &outcome {
                Ok(out) => {
                    for line in String::from_utf8_lossy(&out.stdout).lines() {
                        tracing::info!(stage = ?stage, script = script.name, "{line}");
                    }
                    for line in String::from_utf8_lossy(&out.stderr).lines() {
                        tracing::warn!(stage = ?stage, script = script.name, "{line}");
                    }
                    if out.status.success() {
                        ScriptState::Successful
                    } else {
                        tracing::warn!(stage = ?stage, script = script.name, status = %out.status, "init script failed");
                        ScriptState::Error
                    }
                }
                Err(e) => {
                    tracing::warn!(stage = ?stage, script = script.name, error = %e, "init script could not start");
                    ScriptState::Error
                }
            };
            if state == ScriptState::Error {
                failed += 1;
            }
            tracing::info!(
                stage = ?stage,
                script = script.name,
                state = ?state,
                millis = started.elapsed().as_millis() as u64,
                "init script ran"
            );
            self.set_state(index, state);
        }
        self.completed.lock().unwrap_or_else(PoisonError::into_inner).insert(stage, true);
        failed
    }

    /// `GET /_localstack/init`: every stage's completion and every script's state.
    pub fn status(&self) -> serde_json::Value {
        let completed = self.completed.lock().unwrap_or_else(PoisonError::into_inner);
        let stages: serde_json::Map<String, serde_json::Value> = Stage::ALL
            .into_iter()
            .map(|s| (format!("{s:?}").to_uppercase(), completed.get(&s).copied().unwrap_or(false).into()))
            .collect();
        let scripts = self.scripts.lock().unwrap_or_else(PoisonError::into_inner);
        serde_json::json!({ "completed": stages, "scripts": *scripts })
    }

    /// `GET /_localstack/init/<stage>`: that stage's completion and scripts.
    pub fn stage_status(&self, stage: Stage) -> serde_json::Value {
        let done = self.completed.lock().unwrap_or_else(PoisonError::into_inner).get(&stage).copied().unwrap_or(false);
        let scripts = self.scripts.lock().unwrap_or_else(PoisonError::into_inner);
        let mine: Vec<&Script> = scripts.iter().filter(|s| s.stage == stage).collect();
        serde_json::json!({ "completed": done, "scripts": mine })
    }
}

/// What init scripts find in their environment: squall's endpoint and, unless set already,
/// test credentials and the default region.
pub fn script_env(endpoint: &str, region: &str) -> Vec<(String, String)> {
    let mut env = vec![("AWS_ENDPOINT_URL".to_string(), endpoint.to_string())];
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_REGION", region),
    ] {
        if std::env::var_os(k).is_none() {
            env.push((k.to_string(), v.to_string()));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_from_their_path_segment() {
        assert_eq!(Stage::parse("ready"), Some(Stage::Ready));
        assert_eq!(Stage::parse("BOOT"), Some(Stage::Boot));
        assert_eq!(Stage::parse("later"), None);
    }

    #[test]
    fn scripts_run_in_name_order_and_failures_are_errors() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready.d");
        std::fs::create_dir_all(&ready).unwrap();
        std::fs::write(ready.join("02-second.sh"), "echo second >> order.txt\n").unwrap();
        std::fs::write(ready.join("01-first.sh"), "echo \"first $AWS_ENDPOINT_URL\" >> order.txt\n").unwrap();
        std::fs::write(ready.join("03-fails.sh"), "exit 3\n").unwrap();
        std::fs::write(ready.join("README.txt"), "not a script\n").unwrap();
        let exe = ready.join("04-binary");
        std::fs::write(&exe, "#!/bin/sh\necho binary >> order.txt\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hooks = InitHooks::discover(Some(dir.path()));
        assert_eq!(hooks.stage_status(Stage::Ready)["completed"], false);
        let failed = hooks.run_stage(Stage::Ready, &script_env("http://127.0.0.1:1", "eu-west-1"));
        assert_eq!(failed, 1);
        let order = std::fs::read_to_string(ready.join("order.txt")).unwrap();
        assert_eq!(order, "first http://127.0.0.1:1\nsecond\nbinary\n");
        let status = hooks.status();
        assert_eq!(status["completed"]["READY"], true);
        assert_eq!(status["completed"]["SHUTDOWN"], false);
        let states: Vec<(String, String)> = status["scripts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_string(), s["state"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            states,
            [
                ("01-first.sh".to_string(), "SUCCESSFUL".to_string()),
                ("02-second.sh".into(), "SUCCESSFUL".into()),
                ("03-fails.sh".into(), "ERROR".into()),
                ("04-binary".into(), "SUCCESSFUL".into())
            ]
        );
        assert_eq!(status["scripts"][0]["stage"], "READY");
    }
}
