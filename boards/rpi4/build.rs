//! Links the kernel with the Raspberry Pi 4 memory map (which INCLUDEs the generic layout in linker/).
fn main() {
    let linker_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../linker");
    let linker_dir = linker_dir.canonicalize().expect("linker/ folder");
    println!("cargo:rustc-link-arg=-L{}", linker_dir.display());
    println!("cargo:rustc-link-arg=-Trpi4.ld");
    println!("cargo:rerun-if-changed={}", linker_dir.join("rpi4.ld").display());
    println!("cargo:rerun-if-changed={}", linker_dir.join("kernel.ld").display());
}
