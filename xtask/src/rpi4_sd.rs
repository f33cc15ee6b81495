//! Raspberry Pi 4 images: the raw `kernel8.img` made from the kernel ELF, and `cargo xtask rpi4-sd`, the boot
//! folder to copy onto an SD card's FAT partition (kernel8.img, config.txt and the firmware's files).

use crate::{KernelBuild, Payload, VariantArgs};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The firmware files the Pi 4 boot ROM and start4.elf need besides our kernel and config.txt.
const FIRMWARE_FILES: [&str; 3] = ["start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb"];

/// Folders where a distribution keeps them: Debian's `raspi-firmware` package, and the boot partition of a
/// Raspberry Pi OS or Debian system running on a Pi.
const FIRMWARE_FOLDERS: [&str; 3] = ["/usr/lib/raspi-firmware", "/boot/firmware", "/boot"];

/// The board's config.txt: what our image needs from the firmware.
const CONFIG_TXT: &str = "\
# config.txt for the membarrier kernel on a Raspberry Pi 4, written by `cargo xtask rpi4-sd` (docs/rpi4.md).
# Start the Cortex-A72s in AArch64 and load our raw image at 0x80000, where it is linked to run
# (linker/rpi4.ld). The firmware's built-in arm stub (no armstub= line) enters kernel8.img at EL2 on core 0
# and parks cores 1-3 in wfe on the spin table at 0xd8/0xe0/0xe8/0xf0, which the kernel writes to start them.
arm_64bit=1
kernel=kernel8.img
kernel_address=0x80000
# Our console is the PL011 UART0 on GPIO 14 (TXD) / 15 (RXD), 115200 8N1; the kernel muxes the pins to ALT0
# itself. enable_uart=1 turns the UART clocks on; the PL011's reference clock is 48 MHz (init_uart_clock's
# default, stated here because the kernel's baud divisor assumes it). Unlike the mini UART, the PL011 does not
# depend on the VPU core clock, so no core_freq setting is needed.
enable_uart=1
init_uart_clock=48000000
# Interrupts through the GIC-400 (the default on a Pi 4), not the legacy interrupt controller.
enable_gic=1
# Uncomment to see the firmware's own boot log on the same pins (useful when the kernel prints nothing).
#uart_2ndstage=1
";

/// Turns the kernel ELF into the raw binary the firmware loads (`llvm-objcopy -O binary`): the loadable
/// segments from the lowest physical address on, gaps filled with zeros, BSS left out (the boot code clears it).
pub fn raw_image(elf: &Path, image: &Path) -> Result<PathBuf> {
    let objcopy = crate::command::llvm_tool("llvm-objcopy")?;
    crate::command::run(Command::new(objcopy).args(["-O", "binary"]).arg(elf).arg(image))?;
    Ok(image.to_path_buf())
}

/// `cargo xtask rpi4-sd`: builds the hardware kernel and fills `out` with everything the SD card needs.
pub fn make_boot_folder(out: &Path, variant: VariantArgs, payload: Payload) -> Result<()> {
    let image = KernelBuild::new(variant, payload).for_hardware().build()?;
    let kernel8 = image.kernel8.context("the rpi4 build made no kernel8.img")?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let copy = |from: &Path, name: &str| {
        std::fs::copy(from, out.join(name))
            .with_context(|| format!("cannot copy {} to {}", from.display(), out.display()))
    };
    let size = copy(&kernel8, "kernel8.img")?;
    let config = out.join("config.txt");
    std::fs::write(&config, CONFIG_TXT).with_context(|| format!("cannot write {}", config.display()))?;
    println!("==> {}: kernel8.img ({size} bytes, {}), config.txt", out.display(), payload_note(payload));

    let mut missing = Vec::new();
    for name in FIRMWARE_FILES {
        let found = FIRMWARE_FOLDERS.iter().map(|folder| Path::new(folder).join(name)).find(|path| path.is_file());
        match found {
            Some(path) => {
                copy(&path, name)?;
                println!("    {name} from {}", path.display());
            }
            None => missing.push(name),
        }
    }
    if missing.is_empty() {
        println!("    complete: copy the folder's files to the FAT boot partition of an SD card (docs/rpi4.md)");
        return Ok(());
    }
    println!("    MISSING firmware: {}; searched {}", missing.join(", "), FIRMWARE_FOLDERS.join(", "));
    println!("    Add them to {} before copying the folder to the SD card. They come from either", out.display());
    println!("    - the `boot/` folder of the Raspberry Pi firmware repository (github.com/raspberrypi/firmware):");
    println!("      start4.elf, fixup4.dat and bcm2711-rpi-4-b.dtb, all three; or");
    println!("    - Debian: `apt-get install raspi-firmware` (component non-free-firmware) puts start4.elf and");
    println!("      fixup4.dat in /usr/lib/raspi-firmware/ (rerun this command then); bcm2711-rpi-4-b.dtb is in");
    println!("      Debian's arm64 kernel package, /usr/lib/linux-image-*/broadcom/, or in the FAT partition of");
    println!("      any Raspberry Pi OS image.");
    Ok(())
}

fn payload_note(payload: Payload) -> &'static str {
    match payload {
        Payload::Demo => "boots, reports the cores online and parks",
        Payload::Tests => "runs the in-kernel test suite, prints `N passed, N failed` and parks",
        Payload::Fault => "takes a kernel fault on purpose, prints the report and parks",
        Payload::Bench => "runs the measured regions (no instruction counts without the QEMU plugin) and parks",
    }
}
