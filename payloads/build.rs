//! Embeds the EL0 programs in the kernel image. xtask builds them (user/ and any `--user` files) into a folder
//! and names it in KERNEL_USER_PROGRAMS_DIR; every file there becomes an entry of `USER_PROGRAMS`. The run list
//! for `cargo xtask qemu --user` comes in KERNEL_USER_RUN (one command line per line). Without the variables
//! (a plain `cargo build` or clippy) the table is empty.
use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-env-changed=KERNEL_USER_PROGRAMS_DIR");
    println!("cargo:rerun-if-env-changed=KERNEL_USER_RUN");
    // ELF parsing reads headers in place, so every image is 8-byte aligned.
    let mut generated = String::from(
        "#[repr(C, align(8))]\n#[allow(dead_code)] // only constructed when programs are embedded\nstruct Aligned<T: ?Sized>(T);\n\n/// EL0 programs embedded by xtask: (name, ELF image).\npub static USER_PROGRAMS: &[(&str, &[u8])] = &[\n",
    );
    if let Ok(folder) = std::env::var("KERNEL_USER_PROGRAMS_DIR") {
        println!("cargo:rerun-if-changed={folder}");
        let mut entries: Vec<_> = std::fs::read_dir(&folder).expect("KERNEL_USER_PROGRAMS_DIR").flatten().collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let path = entry.path();
            println!("cargo:rerun-if-changed={}", path.display());
            let name = entry.file_name().to_string_lossy().to_string();
            let path = path.display().to_string();
            writeln!(
                generated,
                "    ({name:?}, {{ static IMAGE: &Aligned<[u8]> = &Aligned(*include_bytes!({path:?})); &IMAGE.0 }}),"
            )
            .unwrap();
        }
    }
    generated.push_str(
        "];\n\n/// Command lines to run (`cargo xtask qemu --user`), in order.\npub static USER_RUN: &[&[&str]] = &[\n",
    );
    if let Ok(run) = std::env::var("KERNEL_USER_RUN") {
        for line in run.lines().filter(|line| !line.trim().is_empty()) {
            let words: Vec<String> = line.split_whitespace().map(|word| format!("{word:?}")).collect();
            writeln!(generated, "    &[{}],", words.join(", ")).unwrap();
        }
    }
    generated.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("user_programs.rs");
    std::fs::write(out, generated).unwrap();
}
