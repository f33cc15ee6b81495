//! Stops a host build of this crate with one clear line: it is AArch64 code (assembly, system registers) and
//! builds only for the kernel's target, so a plain `cargo clippy --workspace` on the host points to xtask.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("aarch64") {
        eprintln!(
            "arch-arm64 builds only for AArch64 (aarch64-unknown-none-softfloat): use `cargo xtask check` to lint \
             every crate, or `cargo clippy` for the host crates alone"
        );
        std::process::exit(1);
    }
}
