//! Installs what a fresh Debian/Ubuntu machine lacks: the Rust target and components (through rustup) and
//! QEMU (through apt when running as root; otherwise the exact command to run is printed).

use crate::Board;
use anyhow::{anyhow, bail, ensure, Context, Result};
use std::process::Command;
use std::sync::OnceLock;

/// Oldest QEMU with the `raspi4b` machine; `virt` works with any QEMU that has aarch64.
const QEMU_MAJOR_FOR_RASPI4B: u32 = 9;

/// Makes sure the kernel target and llvm-tools are installed for the pinned toolchain (rust-toolchain.toml).
/// rustup normally installs them on first use; this covers machines where automatic installation is off.
pub fn ensure_rust_target() -> Result<()> {
    // Checked once per xtask run; the outcome is kept as text because an error cannot be cloned.
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| install_rust_target().map_err(|error| format!("{error:#}")))
        .clone()
        .map_err(|error| anyhow!(error))
}

fn install_rust_target() -> Result<()> {
    let root = crate::workspace_root();
    let rustup = |arguments: &[&str]| {
        let mut command = Command::new("rustup");
        command.current_dir(&root).args(arguments);
        command
    };
    let installed = crate::command::stdout(&mut rustup(&["target", "list", "--installed"]))
        .context("rustup is needed; install it from https://rustup.rs")?;
    for target in [crate::KERNEL_TARGET, "aarch64-unknown-none"] {
        if !installed.lines().any(|line| line.trim() == target) {
            eprintln!("==> installing the Rust target {target} (rustup target add {target})");
            crate::command::run(&mut rustup(&["target", "add", target]))?;
        }
    }
    let components = crate::command::stdout(&mut rustup(&["component", "list", "--installed"])).unwrap_or_default();
    if !components.lines().any(|line| line.starts_with("llvm-tools")) {
        eprintln!("==> installing llvm-tools (rustup component add llvm-tools)");
        crate::command::run(&mut rustup(&["component", "add", "llvm-tools"]))?;
    }
    Ok(())
}

/// The installed qemu-system-aarch64's major version, if there is one.
fn qemu_major_version() -> Option<u32> {
    let output = Command::new("qemu-system-aarch64").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split("version ").nth(1)?;
    version.split('.').next()?.trim().parse().ok()
}

fn minimum_major(board: Board) -> u32 {
    match board {
        Board::QemuVirt => 2,
        Board::Rpi4 => QEMU_MAJOR_FOR_RASPI4B,
    }
}

/// Makes sure a QEMU able to emulate `board` is installed, installing it with apt when run as root.
pub fn ensure_qemu(board: Board) -> Result<()> {
    let needed = minimum_major(board);
    if qemu_major_version().is_some_and(|major| major >= needed) {
        return Ok(());
    }
    let found = qemu_major_version().map_or("not installed".to_string(), |major| format!("version {major}"));
    let plan = install_plan(needed.max(QEMU_MAJOR_FOR_RASPI4B));
    let is_root =
        Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    ensure!(
        is_root,
        "qemu-system-aarch64 {found}; the {} board needs QEMU {needed} or newer. Install it as root with:\n{}",
        board.name(),
        plan.commands.join("\n")
    );
    eprintln!("==> qemu-system-aarch64 {found}: installing QEMU with apt ({})", plan.description);
    if let Some((path, contents)) = &plan.apt_source {
        eprintln!("    writing apt source {path}");
        std::fs::write(path, contents).with_context(|| format!("cannot write {path}"))?;
    }
    for step in &plan.apt_steps {
        eprintln!("    {}", step.join(" "));
        crate::command::run(Command::new(&step[0]).args(&step[1..]).env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    match qemu_major_version() {
        Some(major) if major >= needed => Ok(()),
        Some(major) => bail!("installed QEMU {major}, but {} needs {needed} or newer", board.name()),
        None => bail!("QEMU installation did not provide qemu-system-aarch64"),
    }
}

struct InstallPlan {
    description: String,
    apt_source: Option<(String, String)>,
    apt_steps: Vec<Vec<String>>,
    commands: Vec<String>,
}

/// Debian bookworm ships QEMU 7.2: QEMU 9+ comes from bookworm-backports, added with the same mirror and
/// keyring as the machine's existing bookworm source. Elsewhere the distribution's own package is used.
fn install_plan(wanted_major: u32) -> InstallPlan {
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let is_bookworm = os_release.lines().any(|line| line.trim() == "VERSION_CODENAME=bookworm");
    let strings = |step: &[&str]| step.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if is_bookworm {
        let (mirror, keyring) = existing_debian_source();
        let path = "/etc/apt/sources.list.d/bookworm-backports.sources".to_string();
        let contents =
            format!("Types: deb\nURIs: {mirror}\nSuites: bookworm-backports\nComponents: main\nSigned-By: {keyring}\n");
        let steps = vec![
            strings(&["apt-get", "update"]),
            strings(&["apt-get", "install", "-y", "-t", "bookworm-backports", "qemu-system-arm"]),
        ];
        InstallPlan {
            description: format!("Debian bookworm: QEMU {wanted_major}+ from bookworm-backports"),
            commands: vec![
                format!("printf '{}' > {path}", contents.replace('\n', "\\n")),
                "apt-get update".into(),
                "apt-get install -y -t bookworm-backports qemu-system-arm".into(),
            ],
            apt_source: Some((path, contents)),
            apt_steps: steps,
        }
    } else {
        InstallPlan {
            description: "the distribution's qemu-system-arm".into(),
            commands: vec!["apt-get update".into(), "apt-get install -y qemu-system-arm".into()],
            apt_source: None,
            apt_steps: vec![strings(&["apt-get", "update"]), strings(&["apt-get", "install", "-y", "qemu-system-arm"])],
        }
    }
}

/// The mirror URI and keyring of the machine's existing Debian source (deb822 or one-line format).
fn existing_debian_source() -> (String, String) {
    let mut mirror = "http://deb.debian.org/debian".to_string();
    let mut keyring = "/usr/share/keyrings/debian-archive-keyring.gpg".to_string();
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources") {
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza.lines().find_map(|line| line.strip_prefix(name).map(|value| value.trim().to_string()))
            };
            let suites = field("Suites:").unwrap_or_default();
            if suites.split_whitespace().any(|suite| suite == "bookworm") {
                if let Some(uri) = field("URIs:") {
                    mirror = uri.split_whitespace().next().unwrap_or(&mirror).to_string();
                }
                if let Some(signed_by) = field("Signed-By:") {
                    keyring = signed_by;
                }
                break;
            }
        }
    } else if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        if let Some(line) = text.lines().find(|line| line.starts_with("deb ") && line.contains(" bookworm ")) {
            if let Some(uri) = line.split_whitespace().find(|word| word.starts_with("http")) {
                mirror = uri.to_string();
            }
        }
    }
    (mirror, keyring)
}
