//! Loads a static aarch64 ELF executable into a fresh user address space and builds Linux's initial stack
//! (argc, argv, envp, auxv), as Linux does for a static binary.

use abi::elf::{ElfError, UserAddressLimits};
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
    abi::elf::validate_executable(image, limits).map_err(LoadError::Invalid)?;
    let elf = ElfFile::new(image).map_err(LoadError::NotElf)?;
    let header = &elf.header.pt2;
    let address_space = UserAddressSpace::new()?;
    let mut memory_map = crate::vm::MemoryMap::default();
    let mut highest_end = 0usize;
    let mut program_header_address = 0u64;
    for program_header in elf.program_iter() {
        let segment_type = program_header.get_type().map_err(LoadError::NotElf)?;
        if segment_type == SegmentType::Interp || segment_type == SegmentType::Dynamic {
            return Err(LoadError::Unsupported("dynamically linked".into()));
        }
        if segment_type == SegmentType::Phdr {
            program_header_address = program_header.virtual_addr();
        }
        if segment_type != SegmentType::Load {
            continue;
        }
        load_segment(&address_space, image, &program_header)?;
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
            program_header.virtual_addr() as usize,
            program_header.mem_size() as usize,
            protection,
        );
        // --- End of the regions.
        highest_end = highest_end.max((program_header.virtual_addr() + program_header.mem_size()) as usize);
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
    let (stack_pointer, argv_addresses) = build_initial_stack(
        &address_space,
        argv,
        InitialAux {
            entry: header.entry_point(),
            program_headers: program_header_address,
            program_header_count: header.ph_count() as u64,
            program_header_size: header.ph_entry_size() as u64,
        },
    )?;
    Ok(LoadedProgram {
        address_space,
        entry: header.entry_point(),
        stack_pointer: stack_pointer as u64,
        argv_addresses,
        memory_map,
    })
}

fn load_segment(address_space: &UserAddressSpace, image: &[u8], segment: &ProgramHeader) -> Result<(), LoadError> {
    let flags = segment.flags();
    let permissions = UserPermissions { writable: flags.is_write(), executable: flags.is_execute() };
    let start = segment.virtual_addr() as usize;
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

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_EXECFN: u64 = 31;

/// Linux's layout, from the top: argument strings, 16 random bytes, then (16-byte aligned) argc, argv[], NULL,
/// envp[] (empty), NULL, auxv pairs, AT_NULL. Returns the stack pointer (pointing at argc) and the argument
/// strings' addresses.
fn build_initial_stack(
    space: &UserAddressSpace,
    argv: &[&str],
    aux: InitialAux,
) -> Result<(usize, Vec<u64>), LoadError> {
    let mut top = USER_STACK_TOP;
    let mut argument_addresses = Vec::with_capacity(argv.len());
    for argument in argv.iter().rev() {
        top -= argument.len() + 1;
        space.copy_to_user(top, argument.as_bytes())?;
        space.copy_to_user(top + argument.len(), &[0])?;
        argument_addresses.push(top as u64);
    }
    argument_addresses.reverse();
    top &= !15;
    top -= 16;
    let random_bytes = top;
    let seed = arch_arm64::cpu::counter().to_le_bytes();
    space.copy_to_user(random_bytes, &[seed, seed.map(|byte| byte.rotate_left(3))].concat())?;
    let execfn = argument_addresses.first().copied().unwrap_or(0);
    let auxv: [(u64, u64); 15] = [
        (AT_PHDR, aux.program_headers),
        (AT_PHENT, aux.program_header_size),
        (AT_PHNUM, aux.program_header_count),
        (AT_PAGESZ, PAGE_SIZE as u64),
        (AT_ENTRY, aux.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_HWCAP, 0x3), // FP | ASIMD
        (AT_CLKTCK, 100),
        (AT_SECURE, 0),
        (AT_RANDOM, random_bytes as u64),
        (AT_EXECFN, execfn),
        (AT_NULL, 0),
    ];
    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    words.extend(&argument_addresses);
    words.push(0); // end of argv
    words.push(0); // empty envp
    for (key, value) in auxv {
        words.push(key);
        words.push(value);
    }
    let size = words.len() * 8;
    let stack_pointer = (top - size) & !15;
    let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
    space.copy_to_user(stack_pointer, &bytes)?;
    Ok((stack_pointer, argument_addresses))
}
