//! The server and the headless CLI as child processes of a test.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A binary built by `cargo build --workspace` (scripts/test builds everything first).
pub fn binary(name: &str) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    if !path.exists() {
        bail!(
            "{} is missing: run `cargo build --workspace` first",
            path.display()
        );
    }
    Ok(path)
}

/// `clinic-server serve --demo` on 127.0.0.1 with its own data folder, over HTTPS with the
/// clinic CA it makes there (as installed); killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The clinic CA's pairing code, what `clinic-server tls fingerprint` prints.
    pub pairing_code: String,
}

/// The pairing code of the clinic CA in a server's data folder (`DATA-DIR/tls/ca.pem`), by the
/// one definition the server prints and clients check.
pub fn pairing_code(data_dir: &Path) -> Result<String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let ca = CertificateDer::from_pem_file(data_dir.join("tls/ca.pem"))
        .context("the clinic CA certificate")?;
    Ok(clinic_protocol::pairing::PairingCode::of_certificate(&ca).to_string())
}

impl Server {
    /// Starts on a free port (`listen` = `127.0.0.1:0`) or a given one (a restart).
    pub fn start(data_dir: &Path, listen: &str) -> Result<Self> {
        Self::start_with(data_dir, listen, &[])
    }

    /// Like [`Server::start`], with more `serve` flags (e.g. `--emergency-phone`).
    pub fn start_with(data_dir: &Path, listen: &str, serve_args: &[&str]) -> Result<Self> {
        let mut child = Command::new(binary("clinic-server")?)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--init", "--demo", "--listen", listen])
            .args(serve_args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting clinic-server")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next().context("server exited before listening")??;
            if let Some(rest) = line.split("listening on https://").nth(1) {
                break rest
                    .trim()
                    .parse::<SocketAddr>()
                    .context("server address")?;
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child,
            addr,
            data_dir: data_dir.to_owned(),
            pairing_code: pairing_code(data_dir)?,
        })
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stops the server hard (as a power cut would).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `clinic` CLI with a profile of its own (token in the profile's explicit file store).
#[derive(Debug)]
pub struct Cli {
    profile: PathBuf,
}

impl Cli {
    /// `clinic login --pairing-code CODE`: pairs the profile with the server by its code, then signs in.
    pub fn login(server: &Server, profile: &Path, username: &str, password: &str) -> Result<Self> {
        let cli = Self {
            profile: profile.to_owned(),
        };
        let mut child = Command::new(binary("clinic")?)
            .args(["--server", &server.url(), "--profile"])
            .arg(profile)
            .args(["--credentials", "file", "login", "--username", username])
            .args(["--pairing-code", &server.pairing_code])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(password.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "clinic login failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(cli)
    }

    /// Runs `clinic --profile P ARGS...` and returns its stdout; fails on a non-zero exit.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(binary("clinic")?)
            .arg("--profile")
            .arg(&self.profile)
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!(
                "clinic {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `clinic --profile P ARGS...` in the background (e.g. `tail`, which stays
    /// connected, so the user is online); the caller kills it.
    pub fn spawn(&self, args: &[&str]) -> Result<std::process::Child> {
        Ok(Command::new(binary("clinic")?)
            .arg("--profile")
            .arg(&self.profile)
            .args(args)
            .env("CLINIC_LOG", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?)
    }

    /// The conversation with `username` as JSON messages, after a sync.
    pub fn history(&self, username: &str) -> Result<Vec<serde_json::Value>> {
        self.run(&["sync"])?;
        let json = self.run(&["history", "--with", username, "--json"])?;
        serde_json::from_str(&json).context("history JSON")
    }

    /// Polls `check` on the history with `username` until it holds.
    pub fn wait_history(
        &self,
        username: &str,
        what: &str,
        check: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Result<Vec<serde_json::Value>> {
        for _ in 0..60 {
            let history = self.history(username)?;
            if check(&history) {
                return Ok(history);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        bail!("timed out waiting for {what} in the history with {username}")
    }
}
