//! Running a kernel image in QEMU: the machine arguments per board, a hard timeout, console capture, and a
//! report of the last console lines when a run hangs.

use crate::{Board, Image};
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How many console lines a hang report shows.
const LAST_LINES: usize = 25;

pub struct QemuRun {
    pub board: Board,
    pub smp: u8,
    pub gdb: bool,
    pub timeout_secs: u64,
    /// Print the console as it arrives (interactive runs); tests keep it for the report instead.
    pub echo: bool,
    /// More QEMU arguments (e.g. `-plugin ...`).
    pub extra_arguments: Vec<String>,
}

pub struct Outcome {
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub console: Vec<String>,
    /// After a hang: each vCPU's mode, pc and kernel call chain (see `hang_report`).
    pub hang_report: Vec<String>,
}

impl Outcome {
    /// The last `count` console lines, for failure reports.
    pub fn tail(&self, count: usize) -> String {
        let start = self.console.len().saturating_sub(count);
        let console = self.console[start..].iter().map(|line| format!("    | {line}\n"));
        console.chain(self.hang_report.iter().map(|line| format!("    {line}\n"))).collect()
    }
}

impl QemuRun {
    fn arguments(&self, image: &Image, monitor: &Path) -> Result<Vec<String>> {
        let mut arguments: Vec<String> = match self.board {
            Board::QemuVirt => vec![
                "-machine".into(),
                "virt".into(),
                "-cpu".into(),
                "cortex-a72".into(),
                "-smp".into(),
                self.smp.to_string(),
                "-m".into(),
                "1G".into(),
            ],
            // raspi4b always has four Cortex-A72 cores and 2 GiB; `-smp` and `-m` cannot change that.
            Board::Rpi4 => vec!["-machine".into(), "raspi4b".into()],
        };
        arguments.extend(
            [
                "-display",
                "none",
                "-serial",
                "stdio",
                // Exit status through semihosting (qemu-exit).
                "-semihosting",
                "-kernel",
            ]
            .map(String::from),
        );
        // raspi4b boots the raw kernel8.img like the firmware does: loaded at 0x80000, core 0 entered at EL2,
        // cores 1-3 parked on the spin table at 0xd8. (Given the ELF, QEMU would not install the spin table.)
        let kernel = match self.board {
            Board::QemuVirt => &image.elf,
            Board::Rpi4 => image.kernel8.as_ref().context("rpi4 build without kernel8.img")?,
        };
        arguments.push(kernel.display().to_string());
        // The human monitor on a socket: a hang report asks it what every vCPU is doing.
        arguments.extend(["-monitor".to_string(), format!("unix:{},server,nowait", monitor.display())]);
        if self.gdb {
            arguments.extend(["-s", "-S"].map(String::from));
        }
        arguments.extend(self.extra_arguments.iter().cloned());
        Ok(arguments)
    }

    /// Cores the machine has: raspi4b always has four.
    fn cores(&self) -> u8 {
        match self.board {
            Board::QemuVirt => self.smp,
            Board::Rpi4 => 4,
        }
    }

    /// Boots `image` and waits for QEMU to exit or the timeout to pass.
    pub fn run(&self, image: &Image) -> Result<Outcome> {
        self.run_watched(image, |_| false)
    }

    /// `run`, with a watchdog: `stop` sees the console so far after every line and at least once a second, and
    /// ends the run as a hang (report included) when it returns true, e.g. when one program of a batch has run
    /// too long.
    pub fn run_watched(&self, image: &Image, mut stop: impl FnMut(&[String]) -> bool) -> Result<Outcome> {
        crate::setup::ensure_qemu(self.board)?;
        let monitor = crate::hang_report::socket_path();
        let arguments = self.arguments(image, &monitor)?;
        eprintln!(
            "==> booting {} with {} core(s) (timeout {} s): qemu-system-aarch64 {}",
            self.board.name(),
            self.cores(),
            self.timeout_secs,
            arguments.join(" ")
        );
        if self.gdb {
            eprintln!("    waiting for gdb: gdb-multiarch {} -ex 'target remote :1234'", image.elf.display());
        }
        let started = Instant::now();
        let mut child = Command::new("qemu-system-aarch64")
            .args(&arguments)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start qemu-system-aarch64")?;
        let (sender, receiver) = mpsc::channel::<String>();
        let forward = |stream: Box<dyn Read + Send>, sender: mpsc::Sender<String>| {
            std::thread::spawn(move || for_each_line_lossy(stream, |line| sender.send(line).is_ok()))
        };
        let stdout_reader = forward(Box::new(child.stdout.take().expect("piped")), sender.clone());
        let stderr_reader = forward(Box::new(child.stderr.take().expect("piped")), sender);
        let deadline = started + Duration::from_secs(self.timeout_secs);
        let mut console = Vec::new();
        let mut recent: VecDeque<String> = VecDeque::new();
        let mut timed_out = false;
        let mut hang_report = Vec::new();
        // Loaded when the first call-chain line of a panic report arrives.
        let mut symbols = None;
        loop {
            let now = Instant::now();
            let overall = now >= deadline;
            if overall || stop(&console) {
                timed_out = true;
                if overall {
                    eprintln!(
                        "==> QEMU HUNG after {} s; asking its monitor what each vCPU is doing",
                        self.timeout_secs
                    );
                } else {
                    eprintln!("==> QEMU stopped by the watchdog; asking its monitor what each vCPU is doing");
                }
                hang_report = crate::hang_report::report(&monitor, &image.elf);
                let _ = child.kill();
                break;
            }
            // At least once a second, so that the watchdog runs while the console is quiet.
            match receiver.recv_timeout((deadline - now).min(Duration::from_secs(1))) {
                Ok(line) => {
                    let line = crate::hang_report::name_call_site(line, &mut symbols, &image.elf);
                    if self.echo {
                        println!("{line}");
                    }
                    recent.push_back(line.clone());
                    if recent.len() > LAST_LINES {
                        recent.pop_front();
                    }
                    console.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = child.wait().context("waiting for QEMU")?;
        let _ = stdout_reader.join();
        let _ = stderr_reader.join();
        let elapsed = started.elapsed().as_secs_f64();
        if timed_out {
            eprintln!("==> QEMU HUNG: killed after {elapsed:.0} s; last console lines:");
            for line in &recent {
                eprintln!("    | {line}");
            }
            for line in &hang_report {
                eprintln!("    {line}");
            }
        } else {
            eprintln!(
                "==> QEMU exited with {} after {elapsed:.1} s",
                status.code().map_or("a signal".into(), |c| format!("status {c}"))
            );
        }
        let _ = std::fs::remove_file(&monitor);
        Ok(Outcome { exit_code: if timed_out { None } else { status.code() }, timed_out, console, hang_report })
    }
}

/// Reads `stream` line by line until it ends, calling `line` with each line (without `\n` or `\r\n`) until
/// it returns false. The console is bytes, not text: a kernel printing a corrupted buffer (or a UART glitch) must
/// not end the capture, since the panic report that explains it comes after. Invalid UTF-8 becomes U+FFFD, and
/// a last line without `\n` is kept.
pub fn for_each_line_lossy(stream: impl Read, mut line: impl FnMut(String) -> bool) {
    let mut reader = BufReader::new(stream);
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        match reader.read_until(b'\n', &mut bytes) {
            Ok(0) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&bytes);
                if !line(text.trim_end_matches('\n').trim_end_matches('\r').to_string()) {
                    return;
                }
            }
            // EINTR is retried by read_until; another error means the pipe is gone.
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for_each_line_lossy(bytes, |line| {
            lines.push(line);
            true
        });
        lines
    }

    #[test]
    fn keeps_reading_after_invalid_utf8() {
        let console = b"test ipi_every_pair ... ok (3 ms)\r\ngarbage \xff\xfe\xc3(\n\x80\nKERNEL PANIC on CPU 2: oops\r\n  called from 0xffffff8040201234\n";
        assert_eq!(
            lines_of(console),
            [
                "test ipi_every_pair ... ok (3 ms)",
                "garbage \u{fffd}\u{fffd}\u{fffd}(",
                "\u{fffd}",
                "KERNEL PANIC on CPU 2: oops",
                "  called from 0xffffff8040201234",
            ]
        );
    }

    #[test]
    fn keeps_a_last_line_without_newline_and_stops_when_asked() {
        assert_eq!(lines_of(b"one\n\ntwo"), ["one", "", "two"]);
        let mut seen = 0;
        for_each_line_lossy(&b"a\nb\nc\n"[..], |_| {
            seen += 1;
            seen < 2
        });
        assert_eq!(seen, 2);
    }
}
