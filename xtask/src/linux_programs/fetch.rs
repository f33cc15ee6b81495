//! What the real-program suite needs from outside the repository, installed or fetched on first use and cached:
//! Debian's cross toolchain (installed with apt, as root), Debian's arm64 `musl-dev` and `busybox-static` (GPL:
//! only ever in the cache and out/, never in the repository) and amd64 `qemu-user-static`
//! (downloaded with `apt-get download` under a private apt configuration and unpacked with `dpkg-deb -x`, never
//! installed, and no foreign architecture is added to the system), Linux's membarrier selftests (GPL-2.0, taken out
//! of Debian's `linux-source-6.12`) and arm64 `liburcu-dev` (LGPL-2.1, static archives), and the rustup targets of
//! the Rust std program.
//!
//! The cache is `$XDG_CACHE_HOME/membarrier-kernel/debian` (`~/.cache/membarrier-kernel/debian` by default):
//! outside the worktree, so that `rm -rf out` or a second worktree does not download again. It holds `apt/`
//! (the private apt configuration's sources, lists and archives) and one unpacked root per package.

use crate::command;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The cross compiler: Debian's `gcc-aarch64-linux-gnu` (its dependency `libc6-dev-arm64-cross` has glibc's
/// static libc.a and the static-pie start files).
pub const CROSS_GCC: &str = "aarch64-linux-gnu-gcc";
const CROSS_PACKAGES: [&str; 2] = ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"];

/// The Rust targets of the std program (user/linux-std).
pub const RUST_LINUX_TARGETS: [&str; 2] = ["aarch64-unknown-linux-musl", "aarch64-unknown-linux-gnu"];

/// How long apt may wait for the dpkg lock (other jobs on the machine may be installing too).
const APT_LOCK_TIMEOUT_SECS: &str = "300";

/// Where the downloads live; see the module documentation.
pub fn cache_root() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|value| !value.is_empty()) {
        Some(folder) => PathBuf::from(folder),
        None => {
            PathBuf::from(std::env::var_os("HOME").context("HOME is not set (needed for ~/.cache)")?).join(".cache")
        }
    };
    Ok(base.join("membarrier-kernel").join("debian"))
}

/// Everything the suite uses from outside, ready.
pub struct Tools {
    /// Root of the unpacked `musl-dev:arm64` and `musl:arm64` (usr/include/aarch64-linux-musl,
    /// usr/lib/aarch64-linux-musl).
    pub musl_root: PathBuf,
    /// The unpacked `qemu-aarch64-static`.
    pub qemu_user: PathBuf,
    /// The unpacked arm64 `busybox` of `busybox-static` (glibc, static).
    pub busybox: PathBuf,
    /// The part of Debian's `linux-source-6.12` (GPL-2.0: only in the cache) the membarrier selftests need:
    /// `tools/testing/selftests/{membarrier/,kselftest.h}` and `include/uapi/linux/membarrier.h`.
    pub linux_source: PathBuf,
    /// The part the rseq selftests need ([`RSEQ_SELFTEST_MEMBERS`]), in a folder of its own.
    pub rseq_source: PathBuf,
    /// Root of the unpacked arm64 `liburcu-dev` (usr/include/aarch64-linux-gnu/urcu*,
    /// usr/lib/aarch64-linux-gnu/liburcu-memb.a and liburcu-common.a).
    pub liburcu_root: PathBuf,
}

/// Debian's Linux source package the membarrier selftests come from, and the tarball inside it.
const LINUX_SOURCE_PACKAGE: &str = "linux-source-6.12";
/// The files taken out of the tarball: the selftests' folder, the header they include, and the kernel's own
/// `linux/membarrier.h` (the selftests' Makefile puts the kernel's headers first; the cross toolchain's are
/// Linux 6.1's, older than the commands the 6.12 tests use, e.g. `MEMBARRIER_CMD_GET_REGISTRATIONS`).
const SELFTEST_MEMBERS: [&str; 3] =
    ["tools/testing/selftests/membarrier", "tools/testing/selftests/kselftest.h", "include/uapi/linux/membarrier.h"];

/// The files the rseq selftests need, taken out into a folder of their own: their folder, `kselftest.h`,
/// `tools/include` (their `linux/compiler.h`) and the kernel's own `linux/auxvec.h` (the cross toolchain's
/// Linux 6.1 headers lack `AT_RSEQ_FEATURE_SIZE` and `AT_RSEQ_ALIGN`).
const RSEQ_SELFTEST_MEMBERS: [&str; 4] = [
    "tools/testing/selftests/rseq",
    "tools/testing/selftests/kselftest.h",
    "tools/include",
    "include/uapi/linux/auxvec.h",
];

/// Installs or fetches what is missing; prints one line per thing it fetches.
pub fn ensure_tools() -> Result<Tools> {
    ensure_cross_gcc()?;
    ensure_rust_linux_targets()?;
    let cache = cache_root()?;
    let apt = PrivateApt::new(&cache)?;
    let musl_root = cache.join("musl-arm64");
    apt.fetch_and_unpack(&["musl-dev:arm64", "musl:arm64"], &musl_root)?;
    let qemu_root = cache.join("qemu-user-static");
    apt.fetch_and_unpack(&["qemu-user-static"], &qemu_root)?;
    let qemu_user = qemu_root.join("usr/bin/qemu-aarch64-static");
    ensure!(qemu_user.is_file(), "{} is missing from the unpacked qemu-user-static", qemu_user.display());
    let busybox_root = cache.join("busybox-static-arm64");
    apt.fetch_and_unpack(&["busybox-static:arm64"], &busybox_root)?;
    let busybox = busybox_root.join("bin/busybox");
    ensure!(busybox.is_file(), "{} is missing from the unpacked busybox-static", busybox.display());
    let linux_source = fetch_selftests(&apt, &cache, "membarrier", &SELFTEST_MEMBERS)?;
    let rseq_source = fetch_selftests(&apt, &cache, "rseq", &RSEQ_SELFTEST_MEMBERS)?;
    let liburcu_root = cache.join("liburcu-dev-arm64");
    apt.fetch_and_unpack(&["liburcu-dev:arm64"], &liburcu_root)?;
    Ok(Tools { musl_root, qemu_user, busybox, linux_source, rseq_source, liburcu_root })
}

/// What the liburcu bench program (user/linux/urcu_bench.c) needs, and only that: the cross toolchain and the
/// unpacked arm64 `liburcu-dev` (its root), fetched as [`ensure_tools`] does when the cache lacks it.
pub fn ensure_liburcu() -> Result<PathBuf> {
    ensure_cross_gcc()?;
    let cache = cache_root()?;
    let liburcu_root = cache.join("liburcu-dev-arm64");
    PrivateApt::new(&cache)?.fetch_and_unpack(&["liburcu-dev:arm64"], &liburcu_root)?;
    Ok(liburcu_root)
}

/// Linux's `suite` selftests (membarrier, rseq): `linux-source-6.12` is unpacked into a staging folder (its .deb
/// holds one `usr/src/linux-source-6.12.tar.xz`), only `members` are taken out of the tarball, and the staging
/// folder (about 150 MB) is removed. Returns the root of the extracted files (one per suite, each with its own
/// marker, so that adding a suite leaves the others' folders alone).
fn fetch_selftests(apt: &PrivateApt, cache: &Path, suite: &str, members: &[&str]) -> Result<PathBuf> {
    let root = cache.join(format!("{LINUX_SOURCE_PACKAGE}-{suite}-selftests"));
    let marker = root.join(".extracted-from");
    let extracted = format!("{LINUX_SOURCE_PACKAGE}\n{}\n", members.join("\n"));
    if std::fs::read_to_string(&marker).is_ok_and(|text| text == extracted) {
        return Ok(root);
    }
    let staging = cache.join(format!("{LINUX_SOURCE_PACKAGE}-{suite}-staging"));
    apt.fetch_and_unpack(&[LINUX_SOURCE_PACKAGE], &staging)?;
    let tarball = staging.join(format!("usr/src/{LINUX_SOURCE_PACKAGE}.tar.xz"));
    ensure!(tarball.is_file(), "{} is missing from the unpacked {LINUX_SOURCE_PACKAGE}", tarball.display());
    eprintln!("==> extracting the {suite} selftests from {}", tarball.display());
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    // The tarball's members start with `linux-source-6.12/`: strip it.
    let members: Vec<String> = members.iter().map(|member| format!("{LINUX_SOURCE_PACKAGE}/{member}")).collect();
    command::run(
        Command::new("tar").arg("-xJf").arg(&tarball).arg("-C").arg(&root).arg("--strip-components=1").args(&members),
    )?;
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::write(&marker, extracted).with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(root)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Static glibc is there when the cross gcc finds libc.a (`-print-file-name` echoes the bare name otherwise).
fn cross_toolchain_present() -> bool {
    Command::new(CROSS_GCC)
        .arg("-print-file-name=libc.a")
        .output()
        .is_ok_and(|out| out.status.success() && Path::new(String::from_utf8_lossy(&out.stdout).trim()).is_absolute())
}

fn ensure_cross_gcc() -> Result<()> {
    if cross_toolchain_present() {
        return Ok(());
    }
    let install = format!("apt-get install -y {}", CROSS_PACKAGES.join(" "));
    ensure!(
        is_root(),
        "the cross toolchain ({CROSS_GCC} with static glibc) is missing; install it as root with:\n  apt-get update && {install}"
    );
    eprintln!("==> installing Debian's cross toolchain: {install}");
    let started = Instant::now();
    let lock_timeout = format!("DPkg::Lock::Timeout={APT_LOCK_TIMEOUT_SECS}");
    let apt_get = |arguments: &[&str]| {
        let mut apt_get = Command::new("apt-get");
        apt_get.env("DEBIAN_FRONTEND", "noninteractive").args(["-q", "-o", &lock_timeout]).args(arguments);
        apt_get
    };
    let install_arguments = [&["install", "-y"][..], &CROSS_PACKAGES[..]].concat();
    if command::run(&mut apt_get(&install_arguments)).is_err() {
        // A machine that never ran `apt-get update` has no package lists yet.
        command::run(&mut apt_get(&["update"]))?;
        command::run(&mut apt_get(&install_arguments))?;
    }
    ensure!(cross_toolchain_present(), "{CROSS_GCC} still cannot find a static libc.a after installing");
    eprintln!("    installed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `rustup target add` for the Linux targets, when missing (for the toolchain user/linux-std pins).
pub fn ensure_rust_linux_targets() -> Result<()> {
    let folder = crate::workspace_root().join("user/linux-std");
    let rustup = || {
        let mut rustup = Command::new("rustup");
        rustup.current_dir(&folder);
        rustup
    };
    let installed = command::stdout(rustup().args(["target", "list", "--installed"]))
        .context("rustup is needed; install it from https://rustup.rs")?;
    for target in RUST_LINUX_TARGETS {
        if !installed.lines().any(|line| line.trim() == target) {
            eprintln!("==> fetching the Rust target {target} (rustup target add {target})");
            let started = Instant::now();
            command::run(rustup().args(["target", "add", target]))?;
            eprintln!("    fetched in {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

/// The machine's Debian architecture (`amd64` on the usual x86-64 host), for qemu-user-static.
fn host_architecture() -> Result<String> {
    Ok(command::stdout(Command::new("dpkg").arg("--print-architecture"))?.trim().to_string())
}

/// apt with its own sources, package lists and archive folder under the cache, and arm64 as an extra
/// architecture for this apt only: `-o` options (design.md section 5), so nothing under /etc or /var changes.
/// Also used by `compare --linux` (xtask/src/linux_kernel.rs) to fetch Debian's arm64 kernel.
pub struct PrivateApt {
    folder: PathBuf,
    options: Vec<String>,
}

impl PrivateApt {
    pub fn new(cache: &Path) -> Result<Self> {
        let folder = cache.join("apt");
        let sources = folder.join("sources.list.d");
        for sub in [sources.clone(), folder.join("lists/partial"), folder.join("cache/archives/partial")] {
            std::fs::create_dir_all(&sub).with_context(|| format!("cannot create {}", sub.display()))?;
        }
        // The machine's own Debian sources (mirror and keyring), read afresh each time so that a changed mirror
        // is followed; deb822 (`debian.sources`, Debian 12+) or the one-line `sources.list`.
        let deb822 = Path::new("/etc/apt/sources.list.d/debian.sources");
        let one_line = Path::new("/etc/apt/sources.list");
        let source_list = if deb822.is_file() {
            std::fs::copy(deb822, sources.join("debian.sources"))
                .with_context(|| format!("cannot copy {}", deb822.display()))?;
            "/dev/null".to_string()
        } else if one_line.is_file() {
            let copy = folder.join("sources.list");
            std::fs::copy(one_line, &copy).with_context(|| format!("cannot copy {}", one_line.display()))?;
            copy.display().to_string()
        } else {
            bail!("no Debian apt sources found (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)");
        };
        let options = [
            format!("Dir::Etc::SourceList={source_list}"),
            format!("Dir::Etc::SourceParts={}", sources.display()),
            format!("Dir::State::Lists={}", folder.join("lists").display()),
            format!("Dir::Cache={}", folder.join("cache").display()),
            // `APT::Architectures::=` appends to the list: the host's and arm64, for this apt only.
            format!("APT::Architectures::={}", host_architecture()?),
            "APT::Architectures::=arm64".into(),
            // Downloads go to a folder the `_apt` user cannot write; as root, download as root (no warning).
            "APT::Sandbox::User=root".into(),
        ];
        Ok(Self { folder, options: options.into_iter().flat_map(|option| ["-o".to_string(), option]).collect() })
    }

    fn apt_get(&self) -> Command {
        let mut apt_get = Command::new("apt-get");
        apt_get.arg("-q").args(&self.options);
        apt_get
    }

    /// `apt-cache ARGUMENTS` under the private configuration (package lists fetched first if there are none);
    /// its standard output, or an error with its standard error.
    pub fn cache_query(&self, arguments: &[&str]) -> Result<String> {
        if !self.has_lists() {
            self.update()?;
        }
        let output = command::output(Command::new("apt-cache").args(&self.options).args(arguments))?;
        ensure!(
            output.status.success(),
            "apt-cache {} failed:\n{}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn has_lists(&self) -> bool {
        std::fs::read_dir(self.folder.join("lists"))
            .map(|entries| entries.flatten().any(|entry| entry.file_name().to_string_lossy().contains("Packages")))
            .unwrap_or(false)
    }

    fn update(&self) -> Result<()> {
        eprintln!(
            "==> fetching Debian package lists for amd64 and arm64 (private apt configuration in {})",
            self.folder.display()
        );
        let output = command::output(self.apt_get().arg("update"))?;
        ensure!(
            output.status.success(),
            "apt-get update (private configuration) failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// Downloads `packages` (`name[:arch]`) and unpacks them all into `root`, unless `root` was already made
    /// from them (its marker file lists them).
    pub fn fetch_and_unpack(&self, packages: &[&str], root: &Path) -> Result<()> {
        let marker = root.join(".unpacked-from");
        let wanted = packages.join(" ");
        if std::fs::read_to_string(&marker).is_ok_and(|text| text.lines().next() == Some(wanted.as_str())) {
            return Ok(());
        }
        let started = Instant::now();
        if !self.has_lists() {
            self.update()?;
        }
        eprintln!(
            "==> fetching Debian's {wanted} (apt-get download, unpacked with dpkg-deb -x into {})",
            root.display()
        );
        let downloads = self.folder.join("downloads");
        let _ = std::fs::remove_dir_all(&downloads);
        std::fs::create_dir_all(&downloads).with_context(|| format!("cannot create {}", downloads.display()))?;
        let download =
            |apt: &Self| command::output(apt.apt_get().current_dir(&downloads).arg("download").args(packages));
        let mut output = download(self)?;
        if !output.status.success() {
            // Old lists name files the mirror no longer has (after a point release): refresh once and retry.
            self.update()?;
            output = download(self)?;
        }
        ensure!(
            output.status.success(),
            "apt-get download {wanted} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let _ = std::fs::remove_dir_all(root);
        std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        let mut debs: Vec<_> = std::fs::read_dir(&downloads)?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "deb"))
            .collect();
        debs.sort();
        ensure!(debs.len() == packages.len(), "apt-get download {wanted} gave {} .deb files", debs.len());
        let mut names = Vec::new();
        for deb in &debs {
            command::run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root))?;
            names.push(deb.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default());
        }
        let _ = std::fs::remove_dir_all(&downloads);
        // Written last: an interrupted unpack is redone next time.
        std::fs::write(&marker, format!("{wanted}\n{}\n", names.join("\n")))
            .with_context(|| format!("cannot write {}", marker.display()))?;
        eprintln!("    fetched {} in {:.0} s", names.join(", "), started.elapsed().as_secs_f64());
        Ok(())
    }
}
