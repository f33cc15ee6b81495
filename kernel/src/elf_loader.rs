//! Loads a static aarch64 ELF executable into a fresh user address space and builds Linux's initial stack
//! (argc, argv, envp, auxv), as Linux does for a static binary.
//!
//! A static PIE (`ET_DYN` without `PT_INTERP`) is placed at a random load address near two thirds of the user
//! range and relocates itself: the kernel only maps it there and says where in `AT_PHDR` and `AT_ENTRY`
//! (`AT_BASE` stays 0, there being no interpreter). Linux puts such a program in its mmap area and its break at
//! `ELF_ET_DYN_BASE`; here the program itself sits at `ELF_ET_DYN_BASE` plus up to `2^18` random pages (arm64's
//! default `mmap_rnd_bits` for a 39-bit address space), which leaves the range above it, more than 160 GiB, for
//! mappings and the stack, and lets its break follow its last segment as an `ET_EXEC`'s does.
//!
//! There is no vDSO, so there is no `AT_SYSINFO_EHDR`: glibc and musl then make the real system calls for
//! `clock_gettime` and `gettimeofday`.

use abi::auxv::*;
use abi::elf::{ElfError, UserAddressLimits, ValidExecutable};
use alloc::string::String;
use alloc::vec::Vec;
use arch_arm64::layout::PAGE_SIZE;
use arch_arm64::mmu::{MemoryError, UserAddressSpace, UserPermissions, USER_VA_END};
use xmas_elf::program::{ProgramHeader, Type as SegmentType};
use xmas_elf::ElfFile;

/// Top of the main thread's stack (the page above it stays unmapped); the stack grows down from here.
pub const USER_STACK_TOP: usize = USER_VA_END - PAGE_SIZE;
/// The main thread's stack region: RLIMIT_STACK's default, 8 MiB, populated on demand (vm.rs).
pub const USER_STACK_SIZE: usize = crate::limits::STACK_LIMIT as usize;
/// The part of the stack populated at load, for the arguments and auxiliary vector (more if the arguments
/// need it); the rest is mapped on first touch.
const INITIAL_STACK_POPULATED: usize = 16 * 1024;
/// Where a static PIE's first page goes before randomization: two thirds of the user range, Linux's
/// `ELF_ET_DYN_BASE` for arm64 (`2 * DEFAULT_MAP_WINDOW_64 / 3`), page aligned.
pub const STATIC_PIE_BASE: usize = (2 * USER_VA_END / 3) & !(PAGE_SIZE - 1);
/// How many random pages are added to [`STATIC_PIE_BASE`]: arm64's default `mmap_rnd_bits` (18) for a 39-bit
/// address space, 1 GiB of possible positions.
const STATIC_PIE_RANDOM_PAGES: usize = 1 << 18;
/// Room a static PIE must leave below the stack: its break and the mappings that grow down from the stack.
const STATIC_PIE_HEADROOM: usize = 64 << 30;

/// Why a program could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// Rejected by `abi::elf::validate_executable` before the parser saw it.
    Invalid(ElfError),
    NotElf(&'static str),
    Unsupported(String),
    Memory(MemoryError),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            LoadError::Invalid(error) => write!(formatter, "not a loadable static aarch64 ELF64 executable: {error}"),
            LoadError::NotElf(why) => write!(formatter, "not an ELF file ({why})"),
            LoadError::Unsupported(why) => write!(formatter, "not a static aarch64 executable: {why}"),
            LoadError::Memory(error) => write!(formatter, "cannot map it: {error:?}"),
        }
    }
}

impl From<MemoryError> for LoadError {
    fn from(error: MemoryError) -> Self {
        LoadError::Memory(error)
    }
}

/// A loaded program: its address space, entry point and initial stack pointer.
pub struct LoadedProgram {
    pub address_space: UserAddressSpace,
    pub entry: u64,
    pub stack_pointer: u64,
    /// Where each argument string was placed on the initial stack.
    pub argv_addresses: Vec<u64>,
    /// Its regions: the segments, the heap's start, the stack (vm.rs).
    pub memory_map: crate::vm::MemoryMap,
}

/// Loads `image` and prepares the initial stack with `argv` (no environment).
pub fn load(image: &[u8], argv: &[&str]) -> Result<LoadedProgram, LoadError> {
    // xmas-elf slices and reads headers in place without bounds checks, so a malformed file would panic the
    // kernel: the validator checks the identification, machine, type, program-header table and every PT_LOAD
    // segment (bounds, sizes, user address range) first, and the parser runs only on what it accepts.
    let limits = UserAddressLimits { user_va_end: USER_VA_END as u64, page_size: PAGE_SIZE as u64 };
    let valid = abi::elf::validate_executable(image, limits).map_err(LoadError::Invalid)?;
    let load_bias = choose_load_bias(&valid)?;
    let elf = ElfFile::new(image).map_err(LoadError::NotElf)?;
    let header = &elf.header.pt2;
    let address_space = UserAddressSpace::new()?;
    let mut memory_map = crate::vm::MemoryMap::default();
    let mut highest_end = 0usize;
    for program_header in elf.program_iter() {
        let segment_type = program_header.get_type().map_err(LoadError::NotElf)?;
        if segment_type != SegmentType::Load {
            continue;
        }
        load_segment(&address_space, image, &program_header, load_bias)?;
        // --- Regions (vm.rs): what the loader maps, so that mprotect and the fault path know it.
        let flags = program_header.flags();
        let protection = [
            (flags.is_read(), abi::mmap::PROT_READ),
            (flags.is_write(), abi::mmap::PROT_WRITE),
            (flags.is_execute(), abi::mmap::PROT_EXEC),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .fold(0, |protection, (_, bit)| protection | bit);
        memory_map.add_elf_segment(
            load_bias + program_header.virtual_addr() as usize,
            program_header.mem_size() as usize,
            protection,
        );
        // --- End of the regions.
        highest_end = highest_end.max(load_bias + (program_header.virtual_addr() + program_header.mem_size()) as usize);
    }
    if highest_end == 0 {
        return Err(LoadError::Unsupported("no loadable segment".into()));
    }
    // --- Regions (vm.rs): the heap starts after the highest segment; the stack is a region of
    // RLIMIT_STACK of which only the top is populated now (the rest on first touch).
    memory_map.set_heap_start(highest_end);
    memory_map.add_stack(USER_STACK_TOP - USER_STACK_SIZE, USER_STACK_TOP);
    let arguments_size: usize = argv.iter().map(|argument| argument.len() + 1).sum();
    let populated = (INITIAL_STACK_POPULATED + arguments_size).next_multiple_of(PAGE_SIZE).min(USER_STACK_SIZE);
    let writable = UserPermissions { writable: true, executable: false };
    for page in (USER_STACK_TOP - populated..USER_STACK_TOP).step_by(PAGE_SIZE) {
        address_space.map_zeroed_page(page, writable)?;
    }
    // --- End of the regions.
    let load_bias = load_bias as u64;
    let entry = header.entry_point().wrapping_add(load_bias);
    // Linux's AT_PHDR: where the table is inside the loaded segment holding it (the load bias if none does).
    let program_headers = valid.program_header_table_address().unwrap_or(0).wrapping_add(load_bias);
    let (stack_pointer, argv_addresses) = build_initial_stack(
        &address_space,
        argv,
        InitialAux {
            entry,
            program_headers,
            program_header_count: header.ph_count() as u64,
            program_header_size: header.ph_entry_size() as u64,
        },
    )?;
    Ok(LoadedProgram { address_space, entry, stack_pointer: stack_pointer as u64, argv_addresses, memory_map })
}

/// 0 for `ET_EXEC`; for a static PIE, a random multiple of its largest segment alignment (at least a page)
/// from [`STATIC_PIE_BASE`] on, at which all its segments fit below the stack with [`STATIC_PIE_HEADROOM`]
/// to spare.
fn choose_load_bias(valid: &ValidExecutable) -> Result<usize, LoadError> {
    if !valid.is_position_independent() {
        return Ok(0);
    }
    let (_, end) = valid.loaded_address_range(PAGE_SIZE as u64);
    let alignment = (valid.maximum_segment_alignment() as usize).max(PAGE_SIZE);
    let mut random = [0u8; 8];
    crate::random::fill(&mut random);
    let random_offset = (u64::from_le_bytes(random) as usize % STATIC_PIE_RANDOM_PAGES) * PAGE_SIZE;
    let load_bias = (STATIC_PIE_BASE + random_offset) & !(alignment - 1);
    let limit = USER_STACK_TOP - USER_STACK_SIZE - STATIC_PIE_HEADROOM;
    if alignment > STATIC_PIE_BASE || (end as usize).checked_add(load_bias).is_none_or(|end| end > limit) {
        return Err(LoadError::Unsupported(alloc::format!(
            "static PIE of {end:#x} bytes with {alignment:#x}-byte alignment does not fit at {load_bias:#x}"
        )));
    }
    Ok(load_bias)
}

fn load_segment(
    address_space: &UserAddressSpace,
    image: &[u8],
    segment: &ProgramHeader,
    load_bias: usize,
) -> Result<(), LoadError> {
    let flags = segment.flags();
    let permissions = UserPermissions { writable: flags.is_write(), executable: flags.is_execute() };
    let start = load_bias + segment.virtual_addr() as usize;
    let memory_size = segment.mem_size() as usize;
    let file_size = segment.file_size() as usize;
    let offset = segment.offset() as usize;
    if file_size > memory_size || offset.checked_add(file_size).is_none_or(|end| end > image.len()) {
        return Err(LoadError::Unsupported("segment extends past the file".into()));
    }
    let end = start.checked_add(memory_size).filter(|&end| end <= USER_VA_END);
    let Some(end) = end else { return Err(LoadError::Unsupported("segment outside the user address range".into())) };
    // Segments need not start on a page boundary: map every page the segment touches, then copy the file
    // bytes to their exact addresses; the rest (bss) stays zero.
    let mut page = start & !(PAGE_SIZE - 1);
    while page < end {
        address_space.map_zeroed_page(page, permissions).map_err(|error| match error {
            MemoryError::WritableAndExecutable => {
                LoadError::Unsupported("a page would be writable and executable (segments share a page)".into())
            }
            other => LoadError::Memory(other),
        })?;
        page += PAGE_SIZE;
    }
    copy_into(address_space, start, &image[offset..offset + file_size])?;
    if permissions.executable {
        address_space.sync_instruction_cache(start, memory_size)?;
    }
    Ok(())
}

/// Writes into freshly mapped pages even if they are read-only for EL0 (loading happens before the program
/// runs, through the kernel's linear map).
fn copy_into(address_space: &UserAddressSpace, destination: usize, bytes: &[u8]) -> Result<(), LoadError> {
    address_space.copy_to_user_ignoring_permissions(destination, bytes).map_err(LoadError::Memory)
}

struct InitialAux {
    entry: u64,
    program_headers: u64,
    program_header_count: u64,
    program_header_size: u64,
}

/// Linux's layout (`create_elf_tables` and `copy_strings`), from the top: 8 zero bytes, the file name
/// (`AT_EXECFN`), the argument strings (no environment), then, 16-byte aligned, the platform string
/// (`AT_PLATFORM`), 16 random bytes (`AT_RANDOM`), and below them, 16-byte aligned, argc, argv[], NULL, envp[]
/// (empty), NULL and the auxv pairs ending with AT_NULL. Returns the stack pointer (pointing at argc) and the
/// argument strings' addresses.
fn build_initial_stack(
    space: &UserAddressSpace,
    argv: &[&str],
    aux: InitialAux,
) -> Result<(usize, Vec<u64>), LoadError> {
    let mut top = USER_STACK_TOP - core::mem::size_of::<u64>();
    let mut push_string = |text: &str| -> Result<u64, LoadError> {
        top -= text.len() + 1;
        space.copy_to_user(top, text.as_bytes())?;
        space.copy_to_user(top + text.len(), &[0])?;
        Ok(top as u64)
    };
    // The kernel runs programs by name: the name is the file name, as argv[0] is.
    let file_name = push_string(argv.first().copied().unwrap_or(""))?;
    let mut argument_addresses =
        argv.iter().rev().map(|argument| push_string(argument)).collect::<Result<Vec<u64>, LoadError>>()?;
    argument_addresses.reverse();
    let platform = push_string(PLATFORM)?;
    top = (platform as usize) & !15;
    top -= 16;
    let random_bytes = top;
    let mut random = [0u8; 16];
    crate::random::fill(&mut random);
    space.copy_to_user(random_bytes, &random)?;
    let (hwcap, hwcap2) = arch_arm64::cpu::elf_hardware_capabilities();
    // In Linux's order: arm64's ARCH_DLINFO (AT_SYSINFO_EHDR, omitted without a vDSO; AT_MINSIGSTKSZ), then
    // the generic entries, AT_RSEQ_* last (Linux 6.3+ with CONFIG_RSEQ: glibc registers rseq when it sees them).
    let auxv: [(u64, u64); 22] = [
        (AT_MINSIGSTKSZ, MINIMUM_SIGNAL_STACK_SIZE),
        (AT_HWCAP, hwcap),
        (AT_PAGESZ, PAGE_SIZE as u64),
        (AT_CLKTCK, CLOCK_TICKS_PER_SECOND),
        (AT_PHDR, aux.program_headers),
        (AT_PHENT, aux.program_header_size),
        (AT_PHNUM, aux.program_header_count),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, aux.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_SECURE, 0),
        (AT_RANDOM, random_bytes as u64),
        (AT_HWCAP2, hwcap2),
        (AT_EXECFN, file_name),
        (AT_PLATFORM, platform),
        (AT_RSEQ_FEATURE_SIZE, u64::from(core_sched::rseq::RSEQ_FEATURE_SIZE)),
        (AT_RSEQ_ALIGN, core_sched::rseq::RSEQ_ALIGN),
        (AT_NULL, 0),
    ];
    let mut words: Vec<u64> = Vec::with_capacity(argv.len() + 3 + 2 * auxv.len());
    words.push(argv.len() as u64);
    words.extend(&argument_addresses);
    words.push(0); // end of argv
    words.push(0); // empty envp
    for (key, value) in auxv {
        words.push(key);
        words.push(value);
    }
    let stack_pointer = (top - words.len() * 8) & !15;
    let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
    space.copy_to_user(stack_pointer, &bytes)?;
    Ok((stack_pointer, argument_addresses))
}
