//! The one way xtask builds a kernel: a `KernelBuild` names the variant (board, barrier, payload, optimization),
//! the extras some commands need (the real-board `hardware` build, `--user` programs), and the compile-time
//! settings the kernel reads with `option_env!`. The typed enums map to cargo packages and features here and
//! nowhere else, so `cargo xtask check` lints exactly the feature sets that builds use.

use crate::user::UserCommand;
use crate::{setup, user, workspace_root, Barrier, Board, Payload, RemovedBarrier, VariantArgs, KERNEL_TARGET};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// A built kernel.
pub struct Image {
    pub elf: PathBuf,
    /// The raw binary the Raspberry Pi firmware (and QEMU `raspi4b`) loads at 0x80000; rpi4 only.
    pub kernel8: Option<PathBuf>,
}

/// What to build. Start from `KernelBuild::new` and add what the command needs.
pub struct KernelBuild {
    pub variant: VariantArgs,
    pub payload: Payload,
    /// A real Raspberry Pi 4 instead of QEMU `raspi4b` (ends a run by printing and parking, not semihosting).
    pub hardware: bool,
    /// `cargo xtask qemu --user` programs, embedded and run instead of the payload's own programs.
    pub user_commands: Vec<UserCommand>,
    /// Compile-time settings (`KERNEL_*` variables the kernel reads with `option_env!`). They go into the
    /// environment of this build's cargo only; cargo rebuilds the kernel when one changes.
    pub settings: Vec<(&'static str, String)>,
    /// A BROKEN build of the barrier audit: this core-sched barrier removed.
    pub removed_barrier: Option<RemovedBarrier>,
}

impl KernelBuild {
    pub fn new(variant: VariantArgs, payload: Payload) -> Self {
        Self {
            variant,
            payload,
            hardware: false,
            user_commands: Vec::new(),
            settings: Vec::new(),
            removed_barrier: None,
        }
    }

    /// The BROKEN build without `barrier` (the barrier audit shows it catches the removal).
    pub fn without_barrier(mut self, barrier: RemovedBarrier) -> Self {
        self.removed_barrier = Some(barrier);
        self
    }

    /// The build for a real Raspberry Pi 4 (`rpi4-sd`).
    pub fn for_hardware(mut self) -> Self {
        self.hardware = true;
        self
    }

    pub fn with_user_commands(mut self, user_commands: Vec<UserCommand>) -> Self {
        self.user_commands = user_commands;
        self
    }

    /// Sets one compile-time setting, e.g. `KERNEL_LITMUS_ITERATIONS`.
    pub fn with_setting(mut self, name: &'static str, value: impl ToString) -> Self {
        self.settings.push((name, value.to_string()));
        self
    }

    /// The board's cargo package.
    pub fn package(&self) -> &'static str {
        match self.variant.board {
            Board::QemuVirt => "board-qemu-virt",
            Board::Rpi4 => "board-rpi4",
        }
    }

    /// The board package's binary.
    fn binary(&self) -> &'static str {
        match self.variant.board {
            Board::QemuVirt => "kernel-qemu-virt",
            Board::Rpi4 => "kernel-rpi4",
        }
    }

    /// The board package's features for this build.
    pub fn features(&self) -> Vec<&'static str> {
        let barrier = match self.variant.barrier {
            Barrier::Arm64 => None,
            Barrier::Generic => Some("generic-barrier"),
            Barrier::NoneBroken => Some("no-post-switch-barrier"),
        };
        let payload = match self.payload {
            Payload::Demo => None,
            Payload::Tests => Some("test-suite"),
            Payload::Fault => Some("test-fault"),
            Payload::Bench => Some("bench"),
        };
        let hardware = self.hardware.then_some("hardware");
        let removed = self.removed_barrier.map(RemovedBarrier::feature);
        [barrier, removed, payload, hardware].into_iter().flatten().collect()
    }

    /// The output folder's name: `<board>-<barrier>-<payload>[-hardware][-debug]`. Debug and release builds of a
    /// variant keep separate images.
    fn label(&self) -> String {
        let variant = self.variant;
        let mut label = format!("{}-{}-{}", variant.board.name(), variant.barrier.name(), self.payload.name());
        if let Some(removed) = self.removed_barrier {
            label = format!("{label}-{}-BROKEN", removed.feature());
        }
        if self.hardware {
            label.push_str("-hardware");
        }
        if !variant.release {
            label.push_str("-debug");
        }
        label
    }

    /// Builds the EL0 programs and the kernel into out/<label>/; prints what it builds and how long it took.
    pub fn build(&self) -> Result<Image> {
        if self.hardware && self.variant.board != Board::Rpi4 {
            bail!("only the rpi4 board has a hardware build");
        }
        setup::ensure_rust_target()?;
        let (user_programs, user_run) = user::prepare(&self.user_commands)?;
        let label = self.label();
        let release = self.variant.release;
        let broken = if self.variant.barrier == Barrier::NoneBroken || self.removed_barrier.is_some() {
            " (BROKEN barrier variant, for tests only)"
        } else {
            ""
        };
        eprintln!("==> building {label}{broken} ({})", if release { "release" } else { "debug" });
        let started = Instant::now();
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(workspace_root())
            .env("KERNEL_USER_PROGRAMS_DIR", &user_programs)
            .env("KERNEL_USER_RUN", &user_run)
            .envs(self.settings.iter().map(|(name, value)| (*name, value)))
            .args(["build", "--package", self.package(), "--target", KERNEL_TARGET]);
        if release {
            cargo.arg("--release");
        }
        let features = self.features();
        if !features.is_empty() {
            cargo.args(["--features", &features.join(",")]);
        }
        crate::command::run(&mut cargo).with_context(|| format!("building {label}"))?;
        let profile = if release { "release" } else { "debug" };
        let built = target_dir().join(KERNEL_TARGET).join(profile).join(self.binary());
        let out_dir = workspace_root().join("out").join(&label);
        std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
        let elf = out_dir.join("kernel.elf");
        std::fs::copy(&built, &elf).with_context(|| format!("cannot copy {}", built.display()))?;
        let kernel8 = match self.variant.board {
            Board::QemuVirt => None,
            Board::Rpi4 => Some(crate::rpi4_sd::raw_image(&elf, &out_dir.join("kernel8.img"))?),
        };
        eprintln!("    built {} in {:.1} s", elf.display(), started.elapsed().as_secs_f64());
        Ok(Image { elf, kernel8 })
    }
}

/// Cargo's target folder: CARGO_TARGET_DIR (absolute) when set, which the cargo runs xtask starts use too.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(board: Board, barrier: Barrier, release: bool) -> VariantArgs {
        VariantArgs { board, barrier, release }
    }

    #[test]
    fn maps_variants_to_packages_features_and_folders() {
        let tests = KernelBuild::new(variant(Board::QemuVirt, Barrier::NoneBroken, true), Payload::Tests);
        assert_eq!(tests.package(), "board-qemu-virt");
        assert_eq!(tests.features(), ["no-post-switch-barrier", "test-suite"]);
        assert_eq!(tests.label(), "qemu-virt-none-BROKEN-tests");
        let sd_card = KernelBuild::new(variant(Board::Rpi4, Barrier::Arm64, false), Payload::Demo).for_hardware();
        assert_eq!(sd_card.package(), "board-rpi4");
        assert_eq!(sd_card.features(), ["hardware"]);
        assert_eq!(sd_card.label(), "rpi4-arm64-demo-hardware-debug");
        let exit = KernelBuild::new(variant(Board::QemuVirt, Barrier::Arm64, true), Payload::Demo)
            .without_barrier(RemovedBarrier::ExitMm);
        assert_eq!(exit.features(), ["no-exit-mm-barrier"]);
        assert_eq!(exit.label(), "qemu-virt-arm64-demo-no-exit-mm-barrier-BROKEN");
    }
}
