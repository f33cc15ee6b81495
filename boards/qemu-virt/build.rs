//! Links the kernel with the qemu-virt memory map (which INCLUDEs the generic layout in linker/).
fn main() {
    let linker_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../linker");
    let linker_dir = linker_dir.canonicalize().expect("linker/ folder");
    println!("cargo:rustc-link-arg=-L{}", linker_dir.display());
    println!("cargo:rustc-link-arg=-Tqemu-virt.ld");
    println!("cargo:rerun-if-changed={}", linker_dir.join("qemu-virt.ld").display());
    println!("cargo:rerun-if-changed={}", linker_dir.join("kernel.ld").display());
}
