//! Host tests of the ELF validator: one test per rejection, and a seeded fuzzer that mutates a valid minimal
//! executable and generates random headers, then checks that the validator never panics, names every rejection
//! and accepts only images on which the kernel's parser (`xmas-elf`) and loader stay in bounds.

extern crate std;

use super::*;
use std::collections::HashSet;
use std::mem::{discriminant, Discriminant};
use std::string::ToString;
use std::vec::Vec;

/// The kernel's user address range (39-bit VA, 4 KiB pages).
const LIMITS: UserAddressLimits = UserAddressLimits { user_va_end: 1 << 39, page_size: 4096 };
/// Where the test program is linked, as the user programs are.
const BASE: u64 = 0x20_0000;
const PROGRAM_HEADER_COUNT: usize = 4;
const TABLE_END: usize = ELF64_HEADER_SIZE + PROGRAM_HEADER_COUNT * ELF64_PROGRAM_HEADER_SIZE;
const CODE_OFFSET: usize = TABLE_END;
const CODE_SIZE: usize = 24;
const DATA_OFFSET: usize = 0x140;
const DATA_SIZE: usize = 16;
const FILE_SIZE: usize = DATA_OFFSET + DATA_SIZE;
const PT_GNU_STACK: u32 = 0x6474_e551;

// Field offsets, for the tests that corrupt one field.
const E_TYPE: usize = 16;
const E_MACHINE: usize = 18;
const E_VERSION: usize = 20;
const E_PHOFF: usize = 32;
const E_EHSIZE: usize = 52;
const E_PHENTSIZE: usize = 54;
const E_PHNUM: usize = 56;
const P_TYPE: usize = 0;
const P_OFFSET: usize = 8;
const P_VADDR: usize = 16;
const P_FILESZ: usize = 32;
const P_MEMSZ: usize = 40;
const P_ALIGN: usize = 48;
/// Index of the executable `PT_LOAD` segment in the test program.
const TEXT: usize = 1;
/// Index of the writable `PT_LOAD` segment (with bss) in the test program.
const DATA: usize = 2;

/// Bytes at an 8-byte aligned address, as the kernel embeds its programs (`Vec<u8>` promises only 1).
struct AlignedImage {
    storage: Vec<u8>,
    start: usize,
    length: usize,
}

impl AlignedImage {
    fn new(bytes: &[u8]) -> AlignedImage {
        let mut storage = std::vec![0u8; bytes.len() + ELF64_HEADER_ALIGNMENT];
        let misalignment = storage.as_ptr() as usize % ELF64_HEADER_ALIGNMENT;
        let start = (ELF64_HEADER_ALIGNMENT - misalignment) % ELF64_HEADER_ALIGNMENT;
        storage[start..start + bytes.len()].copy_from_slice(bytes);
        AlignedImage { storage, start, length: bytes.len() }
    }

    fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.length]
    }
}

fn put(image: &mut [u8], offset: usize, bytes: &[u8]) {
    image[offset..offset + bytes.len()].copy_from_slice(bytes);
}

fn program_header_field(index: usize, field: usize) -> usize {
    ELF64_HEADER_SIZE + index * ELF64_PROGRAM_HEADER_SIZE + field
}

/// A static AArch64 executable as a linker lays it out: PT_PHDR, a read-execute PT_LOAD from offset 0 (header,
/// table and code), a read-write PT_LOAD with bss, PT_GNU_STACK.
fn minimal_executable() -> Vec<u8> {
    let mut image = std::vec![0u8; FILE_SIZE];
    put(&mut image, 0, &ELF_MAGIC);
    put(&mut image, 4, &[ELFCLASS64, ELFDATA2LSB, EV_CURRENT as u8]);
    put(&mut image, E_TYPE, &ET_EXEC.to_le_bytes());
    put(&mut image, E_MACHINE, &EM_AARCH64.to_le_bytes());
    put(&mut image, E_VERSION, &EV_CURRENT.to_le_bytes());
    put(&mut image, 24, &(BASE + CODE_OFFSET as u64).to_le_bytes());
    put(&mut image, E_PHOFF, &(ELF64_HEADER_SIZE as u64).to_le_bytes());
    put(&mut image, E_EHSIZE, &(ELF64_HEADER_SIZE as u16).to_le_bytes());
    put(&mut image, E_PHENTSIZE, &(ELF64_PROGRAM_HEADER_SIZE as u16).to_le_bytes());
    put(&mut image, E_PHNUM, &(PROGRAM_HEADER_COUNT as u16).to_le_bytes());
    let table_size = (PROGRAM_HEADER_COUNT * ELF64_PROGRAM_HEADER_SIZE) as u64;
    let text_size = (CODE_OFFSET + CODE_SIZE) as u64;
    let data_address = BASE + 0x1_0000 + DATA_OFFSET as u64;
    // (type, flags, offset, address, file size, memory size, align)
    let segments: [(u32, u32, u64, u64, u64, u64, u64); PROGRAM_HEADER_COUNT] = [
        (PT_PHDR, PF_R, ELF64_HEADER_SIZE as u64, BASE + ELF64_HEADER_SIZE as u64, table_size, table_size, 8),
        (PT_LOAD, PF_R | PF_X, 0, BASE, text_size, text_size, 0x1_0000),
        (PT_LOAD, PF_R | PF_W, DATA_OFFSET as u64, data_address, DATA_SIZE as u64, 0x2000, 0x1_0000),
        (PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 0),
    ];
    for (index, (segment_type, flags, offset, address, file_size, memory_size, align)) in
        segments.into_iter().enumerate()
    {
        put(&mut image, program_header_field(index, P_TYPE), &segment_type.to_le_bytes());
        put(&mut image, program_header_field(index, 4), &flags.to_le_bytes());
        put(&mut image, program_header_field(index, P_OFFSET), &offset.to_le_bytes());
        put(&mut image, program_header_field(index, P_VADDR), &address.to_le_bytes());
        put(&mut image, program_header_field(index, 24), &address.to_le_bytes());
        put(&mut image, program_header_field(index, P_FILESZ), &file_size.to_le_bytes());
        put(&mut image, program_header_field(index, P_MEMSZ), &memory_size.to_le_bytes());
        put(&mut image, program_header_field(index, P_ALIGN), &align.to_le_bytes());
    }
    // The code: `mov x0, #0; mov x8, #93; svc #0` (exit(0)) and padding; the data: a marker.
    put(&mut image, CODE_OFFSET, &[0x00, 0x00, 0x80, 0xd2, 0xa8, 0x0b, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4]);
    put(&mut image, DATA_OFFSET, b"minimal-elf-data");
    image
}

fn validate(bytes: &[u8]) -> Result<(), ElfError> {
    let image = AlignedImage::new(bytes);
    validate_executable(image.bytes(), LIMITS).map(|_| ())
}

/// The minimal executable with `bytes` written at `offset`.
fn with(offset: usize, bytes: &[u8]) -> Vec<u8> {
    let mut image = minimal_executable();
    put(&mut image, offset, bytes);
    image
}

#[test]
fn minimal_executable_is_accepted_with_its_program_headers() {
    let image = AlignedImage::new(&minimal_executable());
    let valid = validate_executable(image.bytes(), LIMITS).expect("the minimal executable is valid");
    assert_eq!(valid.header.entry, BASE + CODE_OFFSET as u64);
    let types: Vec<u32> = valid.program_headers().map(|header| header.segment_type).collect();
    assert_eq!(types, [PT_PHDR, PT_LOAD, PT_LOAD, PT_GNU_STACK]);
    check_loader_accesses(image.bytes());
}

/// The minimal executable as `gcc -static-pie` lays it out: `ET_DYN`, linked at 0, with a `PT_DYNAMIC` (for the
/// program's own relocation code) in place of `PT_GNU_STACK`.
fn static_pie() -> Vec<u8> {
    let mut image = with(E_TYPE, &ET_DYN.to_le_bytes());
    for index in 0..PROGRAM_HEADER_COUNT {
        for field in [P_VADDR, 24] {
            let address = read_field(&image, program_header_field(index, field), 8);
            put(&mut image, program_header_field(index, field), &address.saturating_sub(BASE).to_le_bytes());
        }
    }
    put(&mut image, 24, &(CODE_OFFSET as u64).to_le_bytes());
    put(&mut image, program_header_field(3, P_TYPE), &PT_DYNAMIC.to_le_bytes());
    image
}

#[test]
fn static_pie_is_accepted_with_its_load_range_alignment_and_table_address() {
    let image = AlignedImage::new(&static_pie());
    let valid = validate_executable(image.bytes(), LIMITS).expect("a static PIE is valid");
    assert!(valid.is_position_independent());
    assert_eq!(valid.loaded_address_range(4096), (0, 0x1_0000 + DATA_OFFSET as u64 + 0x2000));
    assert_eq!(valid.maximum_segment_alignment(), 0x1_0000);
    assert_eq!(valid.program_header_table_address(), Some(ELF64_HEADER_SIZE as u64));
    check_loader_accesses(image.bytes());
}

#[test]
fn program_header_table_address_follows_the_loaded_segment_that_holds_it() {
    // As Linux computes AT_PHDR: p_vaddr + (e_phoff - p_offset) of the PT_LOAD whose file bytes hold the table.
    let image = AlignedImage::new(&minimal_executable());
    let valid = validate_executable(image.bytes(), LIMITS).unwrap();
    assert!(!valid.is_position_independent());
    assert_eq!(valid.program_header_table_address(), Some(BASE + ELF64_HEADER_SIZE as u64));
    // Without PT_PHDR (as musl's static binaries are linked) the answer is the same.
    let image = AlignedImage::new(&with(program_header_field(0, P_TYPE), &PT_NOTE.to_le_bytes()));
    let valid = validate_executable(image.bytes(), LIMITS).unwrap();
    assert_eq!(valid.program_header_table_address(), Some(BASE + ELF64_HEADER_SIZE as u64));
    // A table outside every PT_LOAD: PT_PHDR's address, or nothing.
    let mut bytes = with(program_header_field(TEXT, P_OFFSET), &(CODE_OFFSET as u64).to_le_bytes());
    put(&mut bytes, program_header_field(TEXT, P_VADDR), &(BASE + CODE_OFFSET as u64).to_le_bytes());
    put(&mut bytes, program_header_field(TEXT, P_FILESZ), &(CODE_SIZE as u64).to_le_bytes());
    let image = AlignedImage::new(&bytes);
    let valid = validate_executable(image.bytes(), LIMITS).unwrap();
    assert_eq!(valid.program_header_table_address(), Some(BASE + ELF64_HEADER_SIZE as u64));
    put(&mut bytes, program_header_field(0, P_TYPE), &PT_NOTE.to_le_bytes());
    let image = AlignedImage::new(&bytes);
    let valid = validate_executable(image.bytes(), LIMITS).unwrap();
    assert_eq!(valid.program_header_table_address(), None);
}

#[test]
fn rejects_each_malformed_field_with_its_reason() {
    let cases: Vec<(&str, Vec<u8>, ElfError)> = std::vec![
        ("empty file", Vec::new(), ElfError::TooShort { length: 0 }),
        ("truncated header", minimal_executable()[..40].to_vec(), ElfError::TooShort { length: 40 }),
        ("not ELF", with(0, b"\x7fELG"), ElfError::NoMagic),
        ("32-bit", with(4, &[ELFCLASS32]), ElfError::ThirtyTwoBit),
        ("class 0", with(4, &[0]), ElfError::UnknownClass(0)),
        ("big-endian", with(5, &[ELFDATA2MSB]), ElfError::BigEndian),
        ("data encoding 3", with(5, &[3]), ElfError::UnknownDataEncoding(3)),
        ("EI_VERSION 0", with(6, &[0]), ElfError::IdentVersion(0)),
        ("e_version 2", with(E_VERSION, &2u32.to_le_bytes()), ElfError::Version(2)),
        ("x86-64", with(E_MACHINE, &62u16.to_le_bytes()), ElfError::Machine(62)),
        ("relocatable", with(E_TYPE, &1u16.to_le_bytes()), ElfError::FileType(1)),
        ("e_ehsize 52", with(E_EHSIZE, &52u16.to_le_bytes()), ElfError::HeaderSize(52)),
        ("phentsize 57", with(E_PHENTSIZE, &57u16.to_le_bytes()), ElfError::ProgramHeaderEntrySize(57)),
        ("phentsize 0", with(E_PHENTSIZE, &0u16.to_le_bytes()), ElfError::ProgramHeaderEntrySize(0)),
        ("phnum 0", with(E_PHNUM, &0u16.to_le_bytes()), ElfError::NoProgramHeaders),
        ("phnum 0xffff", with(E_PHNUM, &0xffffu16.to_le_bytes()), ElfError::TooManyProgramHeaders(0xffff)),
        (
            "misaligned phoff",
            with(E_PHOFF, &68u64.to_le_bytes()),
            ElfError::ProgramHeaderTableMisaligned { offset: 68 }
        ),
        ("phoff 0", with(E_PHOFF, &0u64.to_le_bytes()), ElfError::ProgramHeaderTableInHeader { offset: 0 }),
        (
            "phoff past the end",
            with(E_PHOFF, &0x1000u64.to_le_bytes()),
            ElfError::ProgramHeaderTablePastEnd {
                offset: 0x1000,
                end: Some(0x1000 + TABLE_END as u64 - 64),
                file_length: FILE_SIZE
            }
        ),
        (
            "table runs past the end",
            with(E_PHNUM, &7u16.to_le_bytes()),
            ElfError::ProgramHeaderTablePastEnd { offset: 64, end: Some(64 + 7 * 56), file_length: FILE_SIZE }
        ),
        (
            "table end overflows",
            with(E_PHOFF, &(u64::MAX - 7).to_le_bytes()),
            ElfError::ProgramHeaderTablePastEnd { offset: u64::MAX - 7, end: None, file_length: FILE_SIZE }
        ),
        (
            "PT_INTERP",
            with(program_header_field(3, P_TYPE), &PT_INTERP.to_le_bytes()),
            ElfError::DynamicallyLinked { segment: 3 }
        ),
        (
            "PIE with PT_INTERP",
            {
                let mut image = static_pie();
                put(&mut image, program_header_field(3, P_TYPE), &PT_INTERP.to_le_bytes());
                image
            },
            ElfError::DynamicallyLinked { segment: 3 }
        ),
        (
            "segment past the end",
            with(program_header_field(DATA, P_FILESZ), &17u64.to_le_bytes()),
            ElfError::SegmentPastEnd {
                segment: DATA,
                offset: DATA_OFFSET as u64,
                file_size: 17,
                file_length: FILE_SIZE
            }
        ),
        (
            "segment offset + size overflows",
            with(program_header_field(DATA, P_OFFSET), &(u64::MAX - 4).to_le_bytes()),
            ElfError::SegmentPastEnd {
                segment: DATA,
                offset: u64::MAX - 4,
                file_size: DATA_SIZE as u64,
                file_length: FILE_SIZE
            }
        ),
        (
            "filesz > memsz",
            with(program_header_field(DATA, P_MEMSZ), &15u64.to_le_bytes()),
            ElfError::SegmentFileSizeAboveMemorySize { segment: DATA, file_size: 16, memory_size: 15 }
        ),
        (
            "vaddr + memsz overflows",
            with(program_header_field(TEXT, P_VADDR), &(u64::MAX - 0xff).to_le_bytes()),
            ElfError::SegmentAddressOverflow {
                segment: TEXT,
                virtual_address: u64::MAX - 0xff,
                memory_size: (CODE_OFFSET + CODE_SIZE) as u64
            }
        ),
        (
            "segment above the user range",
            with(program_header_field(TEXT, P_VADDR), &(1u64 << 39).to_le_bytes()),
            ElfError::SegmentAboveUserRange {
                segment: TEXT,
                end: (1 << 39) + (CODE_OFFSET + CODE_SIZE) as u64,
                user_va_end: 1 << 39
            }
        ),
        (
            "p_align 3",
            with(program_header_field(TEXT, P_ALIGN), &3u64.to_le_bytes()),
            ElfError::SegmentAlignment { segment: TEXT, align: 3 }
        ),
        (
            "offset and address differ modulo the page size",
            with(program_header_field(DATA, P_VADDR), &(BASE + 0x1_0000).to_le_bytes()),
            ElfError::SegmentOffsetAddressMismatch {
                segment: DATA,
                offset: DATA_OFFSET as u64,
                virtual_address: BASE + 0x1_0000,
                page_size: 4096
            }
        ),
        (
            "no PT_LOAD",
            {
                let mut image = with(program_header_field(TEXT, P_TYPE), &PT_NOTE.to_le_bytes());
                put(&mut image, program_header_field(DATA, P_TYPE), &PT_NOTE.to_le_bytes());
                image
            },
            ElfError::NoLoadableSegment
        ),
    ];
    for (name, image, expected) in cases {
        let error = validate(&image).expect_err(name);
        assert_eq!(error, expected, "{name}");
        assert!(!error.to_string().is_empty(), "{name}");
    }
}

/// `p_type` of a note segment, which the loader ignores.
const PT_NOTE: u32 = 4;

#[test]
fn rejects_an_image_that_is_not_8_byte_aligned_in_memory() {
    let mut storage = minimal_executable();
    storage.insert(0, 0);
    let aligned = AlignedImage::new(&storage);
    let misaligned = &aligned.bytes()[1..];
    assert!(matches!(validate_executable(misaligned, LIMITS), Err(ElfError::ImageMisaligned { .. })));
}

#[test]
fn messages_name_the_field_and_value() {
    let message = validate(&with(E_PHENTSIZE, &57u16.to_le_bytes())).unwrap_err().to_string();
    assert_eq!(message, "e_phentsize 57 is not 56");
    let message = validate(&with(5, &[ELFDATA2MSB])).unwrap_err().to_string();
    assert!(message.contains("big-endian"), "{message}");
    let message = validate(&with(4, &[ELFCLASS32])).unwrap_err().to_string();
    assert!(message.contains("32-bit"), "{message}");
}

/// The parser alone panics on inputs the validator rejects: the reason the validator runs first.
#[test]
fn xmas_elf_alone_panics_on_rejected_tables() {
    for (name, image) in [
        ("phentsize 57", with(E_PHENTSIZE, &57u16.to_le_bytes())),
        ("misaligned phoff", with(E_PHOFF, &68u64.to_le_bytes())),
        ("table past the end", with(E_PHNUM, &7u16.to_le_bytes())),
    ] {
        let image = AlignedImage::new(&image);
        assert!(validate_executable(image.bytes(), LIMITS).is_err(), "{name}");
        let parsed = std::panic::catch_unwind(|| {
            let elf = xmas_elf::ElfFile::new(image.bytes()).expect("the header itself parses");
            elf.program_iter().count()
        });
        assert!(parsed.is_err(), "{name}: xmas-elf did not panic");
    }
}

/// Repeats the kernel loader's reads (`kernel/src/elf_loader.rs`) on an accepted image with the real parser:
/// any out-of-bounds slice, misaligned read or overflow here would be a kernel panic there.
fn check_loader_accesses(image: &[u8]) {
    let valid = validate_executable(image, LIMITS).expect("accepted");
    let elf = xmas_elf::ElfFile::new(image).expect("the parser accepts what the validator accepts");
    let header = &elf.header.pt2;
    assert_eq!(header.machine().as_machine(), xmas_elf::header::Machine::AArch64);
    let expected_type = if valid.is_position_independent() {
        xmas_elf::header::Type::SharedObject
    } else {
        xmas_elf::header::Type::Executable
    };
    assert_eq!(header.type_().as_type(), expected_type);
    assert_eq!(header.ph_count(), valid.header.program_header_count);
    let mut parsed = 0;
    let mut highest_end = 0u64;
    for (program_header, ours) in elf.program_iter().zip(valid.program_headers()) {
        parsed += 1;
        assert_eq!(program_header.offset(), ours.offset);
        assert_eq!(program_header.virtual_addr(), ours.virtual_address);
        assert_eq!(program_header.file_size(), ours.file_size);
        assert_eq!(program_header.mem_size(), ours.memory_size);
        if program_header.get_type() != Ok(xmas_elf::program::Type::Load) {
            continue;
        }
        let offset = program_header.offset() as usize;
        let file_size = program_header.file_size() as usize;
        assert!(file_size <= program_header.mem_size() as usize);
        let file_bytes = &image[offset..offset + file_size];
        assert_eq!(file_bytes.len(), file_size);
        let end = program_header.virtual_addr() + program_header.mem_size();
        assert!(end <= LIMITS.user_va_end);
        highest_end = highest_end.max(end);
    }
    assert_eq!(parsed, usize::from(valid.header.program_header_count), "the parser stopped early");
    // The loader's other questions are answered without panicking, and consistently.
    let (lowest, end) = valid.loaded_address_range(LIMITS.page_size);
    assert_eq!(end, highest_end);
    assert!(lowest <= end);
    assert!(valid.maximum_segment_alignment().is_power_of_two());
    let _ = valid.program_header_table_address();
}

/// splitmix64: a small seeded generator, so a failing case reproduces from the printed seed and iteration.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn one_in(&mut self, chances: usize) -> bool {
        self.below(chances) == 0
    }

    /// Values at the edges the checks compare against (file length, table end, address limit, overflow)
    /// or random ones.
    fn interesting(&mut self, current: u64, file_length: usize) -> u64 {
        let length = file_length as u64;
        let edges = [
            0,
            1,
            7,
            8,
            55,
            56,
            57,
            63,
            64,
            65,
            0x1000,
            length.wrapping_sub(1),
            length,
            length + 1,
            LIMITS.user_va_end - 1,
            LIMITS.user_va_end,
            LIMITS.user_va_end + 1,
            u64::MAX,
            u64::MAX - 7,
            u64::MAX - length,
            1 << 63,
            current.wrapping_add(1),
            current.wrapping_sub(1),
            current.wrapping_add(8),
        ];
        match self.below(4) {
            0 => self.next(),
            1 => self.next() % 0x1000,
            _ => edges[self.below(edges.len())],
        }
    }
}

/// (offset, width) of every ELF header field after `e_ident`.
const HEADER_FIELDS: [(usize, usize); 13] = [
    (16, 2),
    (18, 2),
    (20, 4),
    (24, 8),
    (32, 8),
    (40, 8),
    (48, 4),
    (52, 2),
    (54, 2),
    (56, 2),
    (58, 2),
    (60, 2),
    (62, 2),
];
/// (offset, width) of every program header field.
const PROGRAM_HEADER_FIELDS: [(usize, usize); 8] =
    [(0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8)];

fn write_field(image: &mut [u8], offset: usize, width: usize, value: u64) {
    if let Some(field) = image.get_mut(offset..offset + width) {
        field.copy_from_slice(&value.to_le_bytes()[..width]);
    }
}

fn read_field(image: &[u8], offset: usize, width: usize) -> u64 {
    let mut bytes = [0u8; 8];
    if let Some(field) = image.get(offset..offset + width) {
        bytes[..width].copy_from_slice(field);
    }
    u64::from_le_bytes(bytes)
}

/// One to four random corruptions of the minimal executable.
fn mutate(random: &mut Random, image: &mut Vec<u8>) {
    for _ in 0..1 + random.below(4) {
        match random.below(9) {
            // A byte of the headers replaced.
            0 => {
                let position = random.below(TABLE_END.min(image.len()).max(1));
                if let Some(byte) = image.get_mut(position) {
                    *byte ^= 1 + random.below(255) as u8;
                }
            }
            // A bit anywhere flipped.
            1 if !image.is_empty() => {
                let position = random.below(image.len());
                image[position] ^= 1 << random.below(8);
            }
            // An ELF header field set to an edge value.
            2 => {
                let (offset, width) = HEADER_FIELDS[random.below(HEADER_FIELDS.len())];
                let value = random.interesting(read_field(image, offset, width), image.len());
                write_field(image, offset, width, value);
            }
            // A program-header field set to an edge value.
            3 | 4 => {
                let (field, width) = PROGRAM_HEADER_FIELDS[random.below(PROGRAM_HEADER_FIELDS.len())];
                let offset = program_header_field(random.below(PROGRAM_HEADER_COUNT), field);
                let value = random.interesting(read_field(image, offset, width), image.len());
                write_field(image, offset, width, value);
            }
            // Truncated.
            5 => {
                let length = random.below(image.len() + 1);
                image.truncate(length);
            }
            // Random bytes appended (a longer file makes more tables and segments fit).
            6 => {
                for _ in 0..random.below(512) {
                    image.push(random.next() as u8);
                }
            }
            // The class, data encoding or version byte of `e_ident` set to a small value.
            7 => {
                let position = 4 + random.below(3);
                if let Some(byte) = image.get_mut(position) {
                    *byte = random.below(4) as u8;
                }
            }
            // The table moved and resized together.
            _ => {
                let offset = if random.one_in(2) { 8 * random.below(64) } else { random.below(512) };
                write_field(image, E_PHOFF, 8, offset as u64);
                let count = if random.one_in(4) { random.next() as u16 } else { random.below(12) as u16 };
                write_field(image, E_PHNUM, 2, count.into());
                if random.one_in(4) {
                    let size = random.interesting(56, image.len()) & 0xffff;
                    write_field(image, E_PHENTSIZE, 2, size);
                }
            }
        }
    }
}

/// A header written from scratch: usually a plausible 64-bit little-endian AArch64 executable with a random
/// table of random segments, sometimes plain noise.
fn generate(random: &mut Random) -> Vec<u8> {
    let length = random.below(1024);
    let mut image: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
    if random.one_in(8) {
        return image;
    }
    image.resize(image.len().max(ELF64_HEADER_SIZE), 0);
    put(&mut image, 0, &ELF_MAGIC);
    put(&mut image, 4, &[ELFCLASS64, ELFDATA2LSB, EV_CURRENT as u8]);
    write_field(&mut image, E_TYPE, 2, if random.one_in(3) { ET_DYN } else { ET_EXEC }.into());
    write_field(&mut image, E_MACHINE, 2, EM_AARCH64.into());
    write_field(&mut image, E_VERSION, 4, EV_CURRENT.into());
    write_field(&mut image, E_EHSIZE, 2, ELF64_HEADER_SIZE as u64);
    write_field(&mut image, E_PHENTSIZE, 2, ELF64_PROGRAM_HEADER_SIZE as u64);
    let count = 1 + random.below(6);
    let table_offset = if random.one_in(2) { 64 } else { 8 * (8 + random.below(64)) };
    write_field(&mut image, E_PHOFF, 8, table_offset as u64);
    write_field(&mut image, E_PHNUM, 2, count as u64);
    image.resize(image.len().max(table_offset + count * ELF64_PROGRAM_HEADER_SIZE), 0);
    let file_length = image.len() as u64;
    for index in 0..count {
        let field = |field| table_offset + index * ELF64_PROGRAM_HEADER_SIZE + field;
        let segment_type =
            [PT_LOAD, PT_LOAD, PT_LOAD, PT_PHDR, PT_NOTE, PT_GNU_STACK, PT_DYNAMIC, PT_INTERP][random.below(8)];
        write_field(&mut image, field(P_TYPE), 4, segment_type.into());
        let offset = random.next() % file_length;
        let file_size = random.next() % (file_length - offset + 1);
        let address = BASE + random.below(0x10_0000) as u64 * 4096 + offset % 4096;
        let memory_size = file_size + random.below(0x10000) as u64;
        let align = [0, 1, 8, 4096, 0x1_0000][random.below(5)];
        for (field_offset, value) in
            [(P_OFFSET, offset), (P_VADDR, address), (P_FILESZ, file_size), (P_MEMSZ, memory_size), (P_ALIGN, align)]
        {
            // Sometimes one field at an edge instead.
            let value = if random.one_in(6) { random.interesting(value, image.len()) } else { value };
            write_field(&mut image, field(field_offset), 8, value);
        }
    }
    if random.one_in(3) {
        mutate(random, &mut image);
    }
    image
}

#[test]
fn fuzz_never_panics_and_accepts_only_safe_images() {
    const ITERATIONS: usize = 150_000;
    const SEED: u64 = 0x5eed_e1f6_4a11_0c8d;
    let mut random = Random(SEED);
    let valid = minimal_executable();
    let pie = static_pie();
    let (mut accepted, mut rejected) = (0usize, 0usize);
    let mut reasons: HashSet<Discriminant<ElfError>> = HashSet::new();
    for iteration in 0..ITERATIONS {
        let bytes = if random.one_in(3) {
            generate(&mut random)
        } else {
            let mut bytes = if random.one_in(4) { pie.clone() } else { valid.clone() };
            mutate(&mut random, &mut bytes);
            bytes
        };
        let image = AlignedImage::new(&bytes);
        // Sometimes the same bytes one byte past an aligned address, as a misaligned embedding would place them.
        let shifted;
        let image = if random.one_in(64) {
            shifted = AlignedImage::new(&[&[0], bytes.as_slice()].concat());
            &shifted.bytes()[1..]
        } else {
            image.bytes()
        };
        match validate_executable(image, LIMITS) {
            Ok(_) => {
                accepted += 1;
                check_loader_accesses(image);
            }
            Err(error) => {
                rejected += 1;
                assert!(!error.to_string().is_empty(), "seed {SEED:#x} iteration {iteration}: empty message");
                reasons.insert(discriminant(&error));
            }
        }
    }
    std::println!("{accepted} accepted, {rejected} rejected for {} different reasons", reasons.len());
    // The corpus reaches deep: many images pass, and every one of the 26 kinds of rejection is produced.
    assert!(accepted > ITERATIONS / 20, "only {accepted} accepted");
    assert!(reasons.len() >= 26, "only {} kinds of rejection", reasons.len());
}
