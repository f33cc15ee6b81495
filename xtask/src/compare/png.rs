//! PNG copies of the charts, rendered by `rsvg-convert` (Debian's `librsvg2-bin`, installed with apt when xtask
//! runs as root, as QEMU is; otherwise the command to run is printed), and a check that a file is a PNG of the
//! expected size: a chart that does not render is caught where it is made, not when someone opens it.

use anyhow::{bail, ensure, Context, Result};
use std::path::Path;
use std::process::Command;

const RENDERER: &str = "rsvg-convert";
const PACKAGE: &str = "librsvg2-bin";

/// Whether `rsvg-convert` can be run.
pub fn renderer_present() -> bool {
    Command::new(RENDERER).arg("--version").output().is_ok_and(|output| output.status.success())
}

/// Installs `librsvg2-bin` when `rsvg-convert` is missing (as root), or says how to.
pub fn ensure_renderer() -> Result<()> {
    if renderer_present() {
        return Ok(());
    }
    let is_root =
        Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    ensure!(
        is_root,
        "{RENDERER} is missing; install it as root with:\n  apt-get update && apt-get install -y {PACKAGE}"
    );
    eprintln!("==> installing {PACKAGE} for {RENDERER} (apt-get install -y {PACKAGE})");
    let install = || {
        crate::command::run(
            Command::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive").args(["install", "-y", "-q", PACKAGE]),
        )
    };
    if install().is_err() {
        // A machine that never ran `apt-get update` has no package lists yet.
        crate::command::run(Command::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive").args(["update", "-q"]))?;
        install()?;
    }
    ensure!(renderer_present(), "{RENDERER} is still missing after installing {PACKAGE}");
    Ok(())
}

/// Renders `svg` to `png` and checks the result.
pub fn render(svg: &Path, png: &Path) -> Result<()> {
    crate::command::run(Command::new(RENDERER).arg("--format=png").arg("--output").arg(png).arg(svg))
        .with_context(|| format!("rendering {}", svg.display()))?;
    let (width, height) = png_size(png)?;
    let (svg_width, svg_height) = svg_size(&std::fs::read_to_string(svg)?).context("the SVG has no size")?;
    ensure!(
        (width, height) == (svg_width, svg_height),
        "{} is {width}x{height}, the SVG {svg_width}x{svg_height}",
        png.display()
    );
    Ok(())
}

/// The width and height of a PNG file, from its signature and IHDR chunk.
pub fn png_size(png: &Path) -> Result<(u32, u32)> {
    let bytes = std::fs::read(png).with_context(|| format!("cannot read {}", png.display()))?;
    let signature = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(signature) || &bytes[12..16] != b"IHDR" {
        bail!("{} is not a PNG file", png.display());
    }
    let word = |offset: usize| u32::from_be_bytes(bytes[offset..offset + 4].try_into().expect("four bytes"));
    Ok((word(16), word(20)))
}

/// The `width` and `height` attributes of an SVG's root element.
fn svg_size(svg: &str) -> Option<(u32, u32)> {
    let root = svg.split("<svg").nth(1)?.split('>').next()?;
    let attribute = |name: &str| -> Option<u32> {
        root.split(&format!(" {name}=\"")).nth(1)?.split('"').next()?.parse::<f64>().ok().map(|value| value as u32)
    };
    Some((attribute("width")?, attribute("height")?))
}
