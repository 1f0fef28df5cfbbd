//! Running rewritten commands with bash in the scratch directory: foreground ones to completion
//! under a time limit, background ones (` &`) as process groups stopped at the end of the page.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one foreground command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(120);
/// How long a server started in the background has to answer `/health/ready` with 200.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// What a finished command left.
pub struct Finished {
    /// Exit code, `None` when killed by a signal.
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Where commands run and with which variables.
pub struct Shell {
    /// The scratch directory, the working directory of every command.
    pub dir: PathBuf,
    /// Variables set for every command.
    pub env: Vec<(&'static str, String)>,
    background: Vec<(Child, String)>,
    count: usize,
}

impl Shell {
    /// A shell over `dir`.
    pub fn new(dir: PathBuf, env: Vec<(&'static str, String)>) -> Self {
        Self {
            dir,
            env,
            background: Vec::new(),
            count: 0,
        }
    }

    fn command(&mut self, text: &str) -> (Command, PathBuf, PathBuf) {
        self.count += 1;
        let stdout = self.dir.join(format!(".doc-command-{}.out", self.count));
        let stderr = self.dir.join(format!(".doc-command-{}.err", self.count));
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(text)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            // Its own process group, so everything it starts is stopped with it.
            .process_group(0);
        (command, stdout, stderr)
    }

    /// Runs `text` to completion (killed after [`COMMAND_LIMIT`]).
    pub fn run(&mut self, text: &str) -> Result<Finished, String> {
        let (mut command, out_path, err_path) = self.command(text);
        let mut child = command
            .stdout(file(&out_path)?)
            .stderr(file(&err_path)?)
            .spawn()
            .map_err(|e| format!("cannot start bash: {e}"))?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > COMMAND_LIMIT => {
                    stop_group(&mut child);
                    return Err(format!(
                        "still running after {} s; killed",
                        COMMAND_LIMIT.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("cannot wait for the command: {e}")),
            }
        };
        Ok(Finished {
            code: status.code(),
            stdout: read(&out_path),
            stderr: read(&err_path),
        })
    }

    /// Starts `text` (without its `&`) in the background; when it serves on `ready_port`, waits
    /// until `/health/ready` answers 200.
    pub fn start(&mut self, text: &str, ready_port: Option<u16>) -> Result<(), String> {
        let (mut command, out_path, err_path) = self.command(text);
        let child = command
            .stdout(file(&out_path)?)
            .stderr(file(&err_path)?)
            .spawn()
            .map_err(|e| format!("cannot start bash: {e}"))?;
        self.background.push((child, text.to_owned()));
        let Some(port) = ready_port else {
            return Ok(());
        };
        let started = Instant::now();
        while started.elapsed() < READY_LIMIT {
            if ready(port) {
                return Ok(());
            }
            if let Some((child, _)) = self.background.last_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "exited ({status}) before it was ready; stderr:\n{}",
                    tail(&read(&err_path))
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "port {port} not ready after {} s; stderr:\n{}",
            READY_LIMIT.as_secs(),
            tail(&read(&err_path))
        ))
    }

    /// Stops every background process of the page (SIGTERM to its group, SIGKILL after 5 s).
    pub fn stop_background(&mut self) {
        for (mut child, _) in self.background.drain(..) {
            stop_group(&mut child);
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        self.stop_background();
    }
}

fn file(path: &Path) -> Result<File, String> {
    File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn read(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    text
}

/// The last 20 lines of `text`.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// SIGTERM to the child's process group, then SIGKILL if it is still there after 5 s.
fn stop_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let signal = |name: &str| {
        let _ = Command::new("kill")
            .args([name, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The group may outlive its leader (bash) for a moment: make sure.
    signal("-KILL");
    let _ = child.wait();
}

/// `GET /health/ready` on 127.0.0.1:`port` answers 200.
fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}
