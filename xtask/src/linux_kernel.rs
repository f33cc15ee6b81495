//! A stock Linux kernel for `cargo xtask compare --linux`: Debian's arm64 cloud kernel, fetched with
//! `apt-get download` under the real-program suite's private apt configuration (xtask/src/linux_programs/fetch.rs),
//! unpacked with `dpkg-deb -x` and cached in `~/.cache/membarrier-kernel/debian` (GPL-2.0: never in the
//! repository), and the initramfs it boots: a `cpio` newc archive written here, holding our static init and the
//! bench program (both Linux-ABI ELFs from user/) and the run plan.
//!
//! Which kernel: the 6.12 series' metapackage first (`linux-image-6.12-cloud-arm64`, in Debian 12's security
//! archive; the Linux figures quoted in docs/compare.md and the fast-paths issue are 6.12's), then the
//! distribution's `linux-image-cloud-arm64` (6.12 itself on Debian 13, 6.1 on Debian 12). A metapackage only
//! depends on the real `linux-image-<version>-cloud-arm64`, which is what is fetched; its exact Debian version
//! is printed and goes into the results.

use crate::linux_programs::{cache_root, PrivateApt};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The metapackages tried in order (see the module documentation).
const METAPACKAGES: [&str; 2] = ["linux-image-6.12-cloud-arm64", "linux-image-cloud-arm64"];

/// A fetched kernel, ready for `qemu-system-aarch64 -kernel`.
pub struct LinuxKernel {
    /// The real package, e.g. `linux-image-6.12.117+deb12-cloud-arm64`.
    pub package: String,
    /// Its Debian version, e.g. `6.12.117-1~deb12u1`.
    pub version: String,
    /// The uncompressed arm64 `Image`.
    pub image: PathBuf,
}

impl LinuxKernel {
    /// `package version`, the way the results name the kernel.
    pub fn describe(&self) -> String {
        format!("{} {}", self.package, self.version)
    }
}

/// The real kernel package a metapackage's `apt-cache depends` output names.
fn real_package(depends: &str) -> Option<String> {
    depends.lines().find_map(|line| {
        let name = line.trim().strip_prefix("Depends:")?.trim();
        let name = name.split(':').next()?.trim();
        name.starts_with("linux-image-").then(|| name.to_string())
    })
}

/// The `Version:` field of `apt-cache show` output.
fn package_version(show: &str) -> Option<String> {
    show.lines().find_map(|line| line.strip_prefix("Version:").map(|version| version.trim().to_string()))
}

/// Fetches (or finds in the cache) the kernel and returns it; prints the exact package version.
pub fn fetch() -> Result<LinuxKernel> {
    let cache = cache_root()?;
    let apt = PrivateApt::new(&cache)?;
    let mut tried = Vec::new();
    let (metapackage, package) = METAPACKAGES
        .iter()
        .find_map(|metapackage| match apt.cache_query(&["depends", &format!("{metapackage}:arm64")]) {
            Ok(text) => real_package(&text).map(|package| (*metapackage, package)),
            Err(error) => {
                tried.push(format!("{metapackage}: {error:#}"));
                None
            }
        })
        .with_context(|| format!("no Debian arm64 cloud kernel metapackage found:\n{}", tried.join("\n")))?;
    let show = apt.cache_query(&["show", "--no-all-versions", &format!("{package}:arm64")])?;
    let version = package_version(&show).with_context(|| format!("apt-cache show {package} gave no Version"))?;
    eprintln!("==> Linux kernel: {metapackage} -> {package} {version} (Debian, arm64)");
    let root = cache.join(format!("{package}-{version}-arm64"));
    apt.fetch_and_unpack(&[&format!("{package}:arm64")], &root)?;
    let boot = root.join("boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .with_context(|| format!("{} has no boot/ folder", root.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("vmlinuz-")))
        .with_context(|| format!("no vmlinuz-* in {}", boot.display()))?;
    let image = root.join("Image");
    if !image.is_file() {
        write_raw_image(&vmlinuz, &image)?;
    }
    Ok(LinuxKernel { package, version, image })
}

/// Offset and value of the arm64 `Image` header's magic ("ARM\x64", Documentation/arch/arm64/booting.rst).
const IMAGE_MAGIC_OFFSET: usize = 0x38;
const IMAGE_MAGIC: &[u8; 4] = b"ARM\x64";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What a vmlinuz file holds.
#[derive(Debug, PartialEq, Eq)]
enum VmlinuzFormat {
    /// A raw arm64 `Image` (possibly with an EFI stub's PE header, which QEMU ignores).
    RawImage,
    /// A gzip'd `Image`.
    Gzip,
    /// Anything else (e.g. an EFI zboot image, "zimg" at offset 4).
    Unknown,
}

fn vmlinuz_format(bytes: &[u8]) -> VmlinuzFormat {
    if bytes.get(IMAGE_MAGIC_OFFSET..IMAGE_MAGIC_OFFSET + 4) == Some(IMAGE_MAGIC) {
        VmlinuzFormat::RawImage
    } else if bytes.starts_with(&GZIP_MAGIC) {
        VmlinuzFormat::Gzip
    } else {
        VmlinuzFormat::Unknown
    }
}

/// Writes the raw `Image` of `vmlinuz` to `image`: a copy of a raw one, `gzip -dc` of a gzip'd one.
fn write_raw_image(vmlinuz: &Path, image: &Path) -> Result<()> {
    let bytes = std::fs::read(vmlinuz).with_context(|| format!("cannot read {}", vmlinuz.display()))?;
    let raw = match vmlinuz_format(&bytes) {
        VmlinuzFormat::RawImage => {
            eprintln!("    {} is a raw arm64 Image", vmlinuz.display());
            bytes
        }
        VmlinuzFormat::Gzip => {
            eprintln!("    {} is a gzip'd arm64 Image: decompressing", vmlinuz.display());
            let output = crate::command::output(Command::new("gzip").arg("-dc").arg(vmlinuz))?;
            ensure!(output.status.success(), "gzip -dc {} failed", vmlinuz.display());
            output.stdout
        }
        VmlinuzFormat::Unknown => bail!("{} is neither a raw nor a gzip'd arm64 Image", vmlinuz.display()),
    };
    ensure!(vmlinuz_format(&raw) == VmlinuzFormat::RawImage, "{} holds no arm64 Image header", vmlinuz.display());
    // Written under a temporary name first: an interrupted write is not taken for a kernel next time.
    let partial = image.with_extension("partial");
    std::fs::write(&partial, &raw).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, image).with_context(|| format!("cannot rename to {}", image.display()))
}

/// One member of an initramfs.
pub enum CpioEntry<'a> {
    Directory { path: &'a str },
    File { path: &'a str, mode: u32, contents: &'a [u8] },
    CharacterDevice { path: &'a str, major: u32, minor: u32 },
}

/// A `cpio` archive in the "new ASCII" (newc) format Linux unpacks as an initramfs
/// (Documentation/driver-api/early-userspace/buffer-format.rst): per member a 110-byte header of `070701` and
/// thirteen 8-digit hexadecimal fields, the NUL-terminated name and the data, each padded to 4 bytes; the
/// member `TRAILER!!!` ends it. Owner root, modification time 0.
pub fn write_cpio(entries: &[CpioEntry]) -> Vec<u8> {
    const S_IFDIR: u32 = 0o040000;
    const S_IFREG: u32 = 0o100000;
    const S_IFCHR: u32 = 0o020000;
    let mut archive = Vec::new();
    let mut member = |inode: u32, mode: u32, name: &str, contents: &[u8], device: (u32, u32), links: u32| {
        let fields = [
            inode,
            mode,
            0, // uid
            0, // gid
            links,
            0, // mtime
            contents.len() as u32,
            0, // devmajor (of the file system holding the member: irrelevant)
            0, // devminor
            device.0,
            device.1,
            name.len() as u32 + 1,
            0, // check (only for the 070702 format)
        ];
        archive.extend_from_slice(b"070701");
        for field in fields {
            archive.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        archive.extend_from_slice(name.as_bytes());
        archive.push(0);
        while archive.len() % 4 != 0 {
            archive.push(0);
        }
        archive.extend_from_slice(contents);
        while archive.len() % 4 != 0 {
            archive.push(0);
        }
    };
    for (index, entry) in entries.iter().enumerate() {
        let inode = index as u32 + 1;
        match entry {
            CpioEntry::Directory { path } => member(inode, S_IFDIR | 0o755, path, &[], (0, 0), 2),
            CpioEntry::File { path, mode, contents } => member(inode, S_IFREG | mode, path, contents, (0, 0), 1),
            CpioEntry::CharacterDevice { path, major, minor } => {
                member(inode, S_IFCHR | 0o600, path, &[], (*major, *minor), 1)
            }
        }
    }
    member(0, 0, "TRAILER!!!", &[], (0, 0), 1);
    archive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_the_metapackage_and_its_version() {
        let depends = "linux-image-6.12-cloud-arm64:arm64\n  Depends: linux-image-6.12.117+deb12-cloud-arm64:arm64\n";
        assert_eq!(real_package(depends).as_deref(), Some("linux-image-6.12.117+deb12-cloud-arm64"));
        assert_eq!(real_package("linux-image-cloud-arm64:arm64\n  Recommends: x\n"), None);
        let show = "Package: linux-image-6.12.117+deb12-cloud-arm64\nVersion: 6.12.117-1~deb12u1\nSize: 1\n";
        assert_eq!(package_version(show).as_deref(), Some("6.12.117-1~deb12u1"));
    }

    #[test]
    fn tells_raw_from_gzipped_images() {
        let mut raw = vec![0u8; 0x40];
        raw[IMAGE_MAGIC_OFFSET..IMAGE_MAGIC_OFFSET + 4].copy_from_slice(IMAGE_MAGIC);
        assert_eq!(vmlinuz_format(&raw), VmlinuzFormat::RawImage);
        assert_eq!(vmlinuz_format(&[0x1f, 0x8b, 8, 0]), VmlinuzFormat::Gzip);
        assert_eq!(vmlinuz_format(b"MZ\0\0zimg"), VmlinuzFormat::Unknown);
    }

    #[test]
    fn writes_newc_members_padded_to_four_bytes() {
        let archive = write_cpio(&[
            CpioEntry::Directory { path: "dev" },
            CpioEntry::CharacterDevice { path: "dev/console", major: 5, minor: 1 },
            CpioEntry::File { path: "init", mode: 0o755, contents: b"abcde" },
        ]);
        assert_eq!(archive.len() % 4, 0);
        // First member: header, "dev\0" (110 + 4 = 114, padded to 116), no data.
        assert_eq!(&archive[..6], b"070701");
        assert_eq!(&archive[6..14], b"00000001");
        assert_eq!(&archive[14..22], format!("{:08x}", 0o040755).as_bytes());
        assert_eq!(&archive[110..114], b"dev\0");
        // The device member carries its major and minor in rdevmajor/rdevminor (fields 10 and 11).
        let device = &archive[116..];
        assert_eq!(&device[6 + 9 * 8..6 + 11 * 8], b"0000000500000001");
        // The file's data follows its padded name, and the archive ends with the trailer.
        let file = archive.windows(5).position(|window| window == b"abcde").unwrap();
        assert_eq!(file % 4, 0);
        let trailer = archive.windows(10).position(|window| window == b"TRAILER!!!").unwrap();
        assert_eq!(&archive[trailer - 110..trailer - 104], b"070701");
    }
}
