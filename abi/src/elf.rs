//! ELF64 executable layout (the fields the loader reads) and the validation every user program image passes
//! before any parser sees it.
//!
//! The kernel parses programs with `xmas-elf`, which reads headers in place: it slices the image at
//! `e_phoff + index * e_phentsize` without bounds checks and its `zero::read` asserts the size and alignment of
//! each header, so a malformed file would panic the kernel. [`validate_executable`] decodes every field itself
//! from little-endian bytes through checked sub-slices and checked arithmetic, never panics, and accepts only an
//! image on which every access of the parser and of the loader is in bounds: a 64-bit little-endian static
//! AArch64 executable whose program-header table and `PT_LOAD` segments lie inside the file and the user address
//! range. Each rejection is an [`ElfError`] whose `Display` names the field and its value.
//!
//! Static executables come in two kinds, and both are accepted: `ET_EXEC`, linked at fixed addresses, and the
//! static PIE (`ET_DYN` without `PT_INTERP`, as `gcc -static-pie` builds), whose addresses are offsets from a
//! base the loader chooses and which relocates itself (its `PT_DYNAMIC` is for its own start-up code, not for
//! the kernel). A program with `PT_INTERP` needs a dynamic linker and is rejected.

use core::fmt;

/// `e_ident[EI_MAG0..=EI_MAG3]`.
pub const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
/// Size of `e_ident`.
pub const IDENT_SIZE: usize = 16;
/// `e_ident[EI_CLASS]`: 32-bit objects.
pub const ELFCLASS32: u8 = 1;
/// `e_ident[EI_CLASS]`: 64-bit objects, the only class the kernel loads.
pub const ELFCLASS64: u8 = 2;
/// `e_ident[EI_DATA]`: two's complement little-endian, the only encoding the kernel loads.
pub const ELFDATA2LSB: u8 = 1;
/// `e_ident[EI_DATA]`: big-endian.
pub const ELFDATA2MSB: u8 = 2;
/// `e_ident[EI_VERSION]` and `e_version`: the only ELF version there is.
pub const EV_CURRENT: u32 = 1;
/// `e_type`: executable file.
pub const ET_EXEC: u16 = 2;
/// `e_type`: shared object, which is also what a position-independent executable (PIE) is.
pub const ET_DYN: u16 = 3;
/// `e_machine`: ARM 64-bit.
pub const EM_AARCH64: u16 = 183;
/// `p_type`: loadable segment.
pub const PT_LOAD: u32 = 1;
/// `p_type`: dynamic linking information.
pub const PT_DYNAMIC: u32 = 2;
/// `p_type`: path of the program interpreter (the dynamic linker).
pub const PT_INTERP: u32 = 3;
/// `p_type`: the program-header table itself (its address goes to the program as `AT_PHDR`).
pub const PT_PHDR: u32 = 6;
/// `p_flags`: executable.
pub const PF_X: u32 = 1;
/// `p_flags`: writable.
pub const PF_W: u32 = 2;
/// `p_flags`: readable.
pub const PF_R: u32 = 4;
/// `sizeof(Elf64_Ehdr)`.
pub const ELF64_HEADER_SIZE: usize = 64;
/// `sizeof(Elf64_Phdr)`.
pub const ELF64_PROGRAM_HEADER_SIZE: usize = 56;
/// Alignment of the 64-bit headers' widest fields: the parser reads `Elf64_Ehdr` and `Elf64_Phdr` in place and
/// asserts it for the image and for `e_phoff`.
pub const ELF64_HEADER_ALIGNMENT: usize = 8;
/// Largest program-header table accepted, as Linux's `elf_read_phdrs` (64 KiB: 1170 entries).
pub const MAX_PROGRAM_HEADER_TABLE_SIZE: usize = 64 * 1024;

/// The address space a program is loaded into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAddressLimits {
    /// First address above the user range: every segment must end at or below it.
    pub user_va_end: u64,
    /// Page size: a segment's file offset and address must agree modulo it, as `mmap` of the file would need.
    pub page_size: u64,
}

/// `Elf64_Ehdr`, decoded from little-endian bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elf64Header {
    /// `e_ident`: magic, class, data encoding, version, OS ABI, ABI version, padding.
    pub ident: [u8; IDENT_SIZE],
    /// `e_type`.
    pub file_type: u16,
    /// `e_machine`.
    pub machine: u16,
    /// `e_version`.
    pub version: u32,
    /// `e_entry`.
    pub entry: u64,
    /// `e_phoff`.
    pub program_header_offset: u64,
    /// `e_shoff`.
    pub section_header_offset: u64,
    /// `e_flags`.
    pub flags: u32,
    /// `e_ehsize`.
    pub header_size: u16,
    /// `e_phentsize`.
    pub program_header_entry_size: u16,
    /// `e_phnum`.
    pub program_header_count: u16,
    /// `e_shentsize`.
    pub section_header_entry_size: u16,
    /// `e_shnum`.
    pub section_header_count: u16,
    /// `e_shstrndx`.
    pub section_name_table_index: u16,
}

impl Elf64Header {
    /// Decodes the first [`ELF64_HEADER_SIZE`] bytes of `image` as little-endian fields, without checking them;
    /// `None` when the image is shorter.
    pub fn decode(image: &[u8]) -> Option<Elf64Header> {
        let bytes = image.get(..ELF64_HEADER_SIZE)?;
        Some(Elf64Header {
            ident: bytes.get(..IDENT_SIZE)?.try_into().ok()?,
            file_type: read_u16(bytes, 16)?,
            machine: read_u16(bytes, 18)?,
            version: read_u32(bytes, 20)?,
            entry: read_u64(bytes, 24)?,
            program_header_offset: read_u64(bytes, 32)?,
            section_header_offset: read_u64(bytes, 40)?,
            flags: read_u32(bytes, 48)?,
            header_size: read_u16(bytes, 52)?,
            program_header_entry_size: read_u16(bytes, 54)?,
            program_header_count: read_u16(bytes, 56)?,
            section_header_entry_size: read_u16(bytes, 58)?,
            section_header_count: read_u16(bytes, 60)?,
            section_name_table_index: read_u16(bytes, 62)?,
        })
    }
}

/// `Elf64_Phdr`, decoded from little-endian bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elf64ProgramHeader {
    /// `p_type`.
    pub segment_type: u32,
    /// `p_flags` ([`PF_R`], [`PF_W`], [`PF_X`]).
    pub flags: u32,
    /// `p_offset`: where the segment's bytes start in the file.
    pub offset: u64,
    /// `p_vaddr`.
    pub virtual_address: u64,
    /// `p_paddr`.
    pub physical_address: u64,
    /// `p_filesz`: bytes taken from the file.
    pub file_size: u64,
    /// `p_memsz`: bytes in memory; those past `p_filesz` are zero.
    pub memory_size: u64,
    /// `p_align`.
    pub align: u64,
}

impl Elf64ProgramHeader {
    /// Decodes the first [`ELF64_PROGRAM_HEADER_SIZE`] bytes of `bytes`; `None` when there are fewer.
    pub fn decode(bytes: &[u8]) -> Option<Elf64ProgramHeader> {
        let bytes = bytes.get(..ELF64_PROGRAM_HEADER_SIZE)?;
        Some(Elf64ProgramHeader {
            segment_type: read_u32(bytes, 0)?,
            flags: read_u32(bytes, 4)?,
            offset: read_u64(bytes, 8)?,
            virtual_address: read_u64(bytes, 16)?,
            physical_address: read_u64(bytes, 24)?,
            file_size: read_u64(bytes, 32)?,
            memory_size: read_u64(bytes, 40)?,
            align: read_u64(bytes, 48)?,
        })
    }
}

/// An image that passed [`validate_executable`]: its header, and its program headers on demand.
#[derive(Clone, Copy, Debug)]
pub struct ValidExecutable<'image> {
    image: &'image [u8],
    /// The decoded ELF header.
    pub header: Elf64Header,
}

impl<'image> ValidExecutable<'image> {
    /// The program headers in table order (all of them in the file: validation checked the table's bounds).
    pub fn program_headers(&self) -> impl Iterator<Item = Elf64ProgramHeader> + 'image {
        program_headers(self.image, &self.header)
    }

    /// Whether this is a static PIE (`ET_DYN`): its addresses are offsets from a load address the loader picks.
    pub fn is_position_independent(&self) -> bool {
        self.header.file_type == ET_DYN
    }

    /// The page-aligned start and the end of the addresses the `PT_LOAD` segments occupy (validation checked
    /// that there is at least one and that none overflows).
    pub fn loaded_address_range(&self, page_size: u64) -> (u64, u64) {
        let page_mask = !(page_size.max(1) - 1);
        self.program_headers().filter(|header| header.segment_type == PT_LOAD).fold(
            (u64::MAX, 0),
            |(start, end), header| {
                let segment_end = header.virtual_address.saturating_add(header.memory_size);
                (start.min(header.virtual_address & page_mask), end.max(segment_end))
            },
        )
    }

    /// The largest `p_align` of the `PT_LOAD` segments (at least 1): a static PIE's load address must keep each
    /// segment at its alignment, as Linux's `maximum_alignment` does.
    pub fn maximum_segment_alignment(&self) -> u64 {
        self.program_headers()
            .filter(|header| header.segment_type == PT_LOAD)
            .map(|header| header.align)
            .filter(|align| align.is_power_of_two())
            .max()
            .unwrap_or(1)
    }

    /// Where the program-header table is in memory before the load address is added, as Linux computes
    /// `AT_PHDR`: inside the `PT_LOAD` segment whose file bytes contain `e_phoff`
    /// (`p_vaddr + e_phoff - p_offset`); failing that, `PT_PHDR`'s address; `None` if neither exists.
    pub fn program_header_table_address(&self) -> Option<u64> {
        let table_offset = self.header.program_header_offset;
        let in_loaded_segment =
            self.program_headers().filter(|header| header.segment_type == PT_LOAD).find_map(|header| {
                let contains_table = header.offset <= table_offset && table_offset - header.offset < header.file_size;
                contains_table.then(|| header.virtual_address.wrapping_add(table_offset - header.offset))
            });
        in_loaded_segment.or_else(|| {
            self.program_headers().find(|header| header.segment_type == PT_PHDR).map(|header| header.virtual_address)
        })
    }
}

/// Why an image is not a loadable executable. `Display` gives the reason with the offending values.
// The variants' fields are the offending values, named after the ELF fields each variant's doc names.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The file ends inside the ELF header.
    TooShort { length: usize },
    /// The first four bytes are not `\x7fELF`.
    NoMagic,
    /// `EI_CLASS` is `ELFCLASS32`.
    ThirtyTwoBit,
    /// `EI_CLASS` is neither 32- nor 64-bit.
    UnknownClass(u8),
    /// `EI_DATA` is `ELFDATA2MSB`.
    BigEndian,
    /// `EI_DATA` is neither encoding.
    UnknownDataEncoding(u8),
    /// `EI_VERSION` is not `EV_CURRENT`.
    IdentVersion(u8),
    /// `e_version` is not `EV_CURRENT`.
    Version(u32),
    /// The image does not start on an 8-byte boundary in memory (the parser reads the headers in place).
    ImageMisaligned { address: usize },
    /// `e_machine` is not AArch64.
    Machine(u16),
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN`.
    FileType(u16),
    /// `e_ehsize` is not 64.
    HeaderSize(u16),
    /// `e_phentsize` is not 56.
    ProgramHeaderEntrySize(u16),
    /// `e_phnum` is 0.
    NoProgramHeaders,
    /// `e_phnum` entries exceed [`MAX_PROGRAM_HEADER_TABLE_SIZE`].
    TooManyProgramHeaders(u16),
    /// `e_phoff` is not a multiple of 8.
    ProgramHeaderTableMisaligned { offset: u64 },
    /// `e_phoff` points into the ELF header.
    ProgramHeaderTableInHeader { offset: u64 },
    /// The program-header table does not end inside the file (`end` is `None` when its end overflows).
    ProgramHeaderTablePastEnd { offset: u64, end: Option<u64>, file_length: usize },
    /// A `PT_INTERP` segment: the program needs a dynamic linker.
    DynamicallyLinked { segment: usize },
    /// A `PT_LOAD` segment's file bytes do not lie inside the file.
    SegmentPastEnd { segment: usize, offset: u64, file_size: u64, file_length: usize },
    /// A `PT_LOAD` segment takes more bytes from the file than it occupies in memory.
    SegmentFileSizeAboveMemorySize { segment: usize, file_size: u64, memory_size: u64 },
    /// A `PT_LOAD` segment's `p_vaddr + p_memsz` overflows 64 bits.
    SegmentAddressOverflow { segment: usize, virtual_address: u64, memory_size: u64 },
    /// A `PT_LOAD` segment ends above the user address range.
    SegmentAboveUserRange { segment: usize, end: u64, user_va_end: u64 },
    /// A `PT_LOAD` segment's `p_align` is neither 0, 1 nor a power of two.
    SegmentAlignment { segment: usize, align: u64 },
    /// A `PT_LOAD` segment's file offset and address differ modulo the page size.
    SegmentOffsetAddressMismatch { segment: usize, offset: u64, virtual_address: u64, page_size: u64 },
    /// No `PT_LOAD` segment.
    NoLoadableSegment,
}

impl fmt::Display for ElfError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            ElfError::TooShort { length } => {
                write!(formatter, "file of {length} bytes is shorter than the {ELF64_HEADER_SIZE}-byte ELF header")
            }
            ElfError::NoMagic => write!(formatter, "no ELF magic number (\\x7fELF)"),
            ElfError::ThirtyTwoBit => write!(formatter, "32-bit ELF (ELFCLASS32); only 64-bit programs are supported"),
            ElfError::UnknownClass(class) => write!(formatter, "unknown ELF class {class}"),
            ElfError::BigEndian => {
                write!(formatter, "big-endian ELF (ELFDATA2MSB); only little-endian programs are supported")
            }
            ElfError::UnknownDataEncoding(encoding) => write!(formatter, "unknown ELF data encoding {encoding}"),
            ElfError::IdentVersion(version) => write!(formatter, "EI_VERSION {version} is not 1 (EV_CURRENT)"),
            ElfError::Version(version) => write!(formatter, "e_version {version} is not 1 (EV_CURRENT)"),
            ElfError::ImageMisaligned { address } => {
                write!(formatter, "image at {address:#x} is not {ELF64_HEADER_ALIGNMENT}-byte aligned in memory")
            }
            ElfError::Machine(machine) => write!(formatter, "machine {machine} is not AArch64 ({EM_AARCH64})"),
            ElfError::FileType(file_type) => write!(
                formatter,
                "file type {file_type} is not an executable (ET_EXEC = {ET_EXEC}, or ET_DYN = {ET_DYN} for a PIE)"
            ),
            ElfError::HeaderSize(size) => write!(formatter, "e_ehsize {size} is not {ELF64_HEADER_SIZE}"),
            ElfError::ProgramHeaderEntrySize(size) => {
                write!(formatter, "e_phentsize {size} is not {ELF64_PROGRAM_HEADER_SIZE}")
            }
            ElfError::NoProgramHeaders => write!(formatter, "no program headers (e_phnum is 0)"),
            ElfError::TooManyProgramHeaders(count) => {
                write!(formatter, "{count} program headers exceed the {MAX_PROGRAM_HEADER_TABLE_SIZE}-byte table limit")
            }
            ElfError::ProgramHeaderTableMisaligned { offset } => {
                write!(formatter, "e_phoff {offset:#x} is not a multiple of {ELF64_HEADER_ALIGNMENT}")
            }
            ElfError::ProgramHeaderTableInHeader { offset } => {
                write!(formatter, "e_phoff {offset:#x} points into the ELF header")
            }
            ElfError::ProgramHeaderTablePastEnd { offset, end: Some(end), file_length } => write!(
                formatter,
                "program-header table {offset:#x}..{end:#x} extends past the end of the {file_length}-byte file"
            ),
            ElfError::ProgramHeaderTablePastEnd { offset, end: None, .. } => {
                write!(formatter, "program-header table at {offset:#x} ends beyond 2^64")
            }
            ElfError::DynamicallyLinked { segment } => write!(
                formatter,
                "dynamically linked (segment {segment} is PT_INTERP, naming a dynamic linker, which this kernel \
                 does not run); only static executables are supported (ET_EXEC, or a static PIE without PT_INTERP)"
            ),
            ElfError::SegmentPastEnd { segment, offset, file_size, file_length } => write!(
                formatter,
                "segment {segment}: file bytes at {offset:#x} ({file_size:#x} bytes) extend past the end of the \
                 {file_length}-byte file"
            ),
            ElfError::SegmentFileSizeAboveMemorySize { segment, file_size, memory_size } => {
                write!(formatter, "segment {segment}: p_filesz {file_size:#x} is larger than p_memsz {memory_size:#x}")
            }
            ElfError::SegmentAddressOverflow { segment, virtual_address, memory_size } => write!(
                formatter,
                "segment {segment}: p_vaddr {virtual_address:#x} + p_memsz {memory_size:#x} overflows"
            ),
            ElfError::SegmentAboveUserRange { segment, end, user_va_end } => write!(
                formatter,
                "segment {segment}: ends at {end:#x}, above the user address range (which ends at {user_va_end:#x})"
            ),
            ElfError::SegmentAlignment { segment, align } => {
                write!(formatter, "segment {segment}: p_align {align:#x} is not a power of two")
            }
            ElfError::SegmentOffsetAddressMismatch { segment, offset, virtual_address, page_size } => write!(
                formatter,
                "segment {segment}: p_offset {offset:#x} and p_vaddr {virtual_address:#x} differ modulo the page \
                 size {page_size:#x}"
            ),
            ElfError::NoLoadableSegment => write!(formatter, "no loadable (PT_LOAD) segment"),
        }
    }
}

/// Checks that `image` is a static AArch64 ELF64 little-endian executable (`ET_EXEC`, or `ET_DYN` without
/// `PT_INTERP`: a static PIE) that the parser and loader can read without any access out of bounds, misaligned
/// or overflowing, and whose `PT_LOAD` segments fit the user address range of `limits` (for a static PIE, at
/// load address 0: the loader checks that they still fit at the base it picks). Never panics.
///
/// The order follows the order of dependence: identification bytes first (so that a 32-bit or big-endian file
/// is named as such and never decoded with the wrong layout), then the header, then the table, then each
/// segment.
pub fn validate_executable(image: &[u8], limits: UserAddressLimits) -> Result<ValidExecutable<'_>, ElfError> {
    let too_short = ElfError::TooShort { length: image.len() };
    if image.get(..ELF_MAGIC.len()).ok_or(too_short)? != ELF_MAGIC {
        return Err(ElfError::NoMagic);
    }
    match *image.get(4).ok_or(too_short)? {
        ELFCLASS64 => {}
        ELFCLASS32 => return Err(ElfError::ThirtyTwoBit),
        class => return Err(ElfError::UnknownClass(class)),
    }
    match *image.get(5).ok_or(too_short)? {
        ELFDATA2LSB => {}
        ELFDATA2MSB => return Err(ElfError::BigEndian),
        encoding => return Err(ElfError::UnknownDataEncoding(encoding)),
    }
    let ident_version = *image.get(6).ok_or(too_short)?;
    if u32::from(ident_version) != EV_CURRENT {
        return Err(ElfError::IdentVersion(ident_version));
    }
    let header = Elf64Header::decode(image).ok_or(too_short)?;
    if header.version != EV_CURRENT {
        return Err(ElfError::Version(header.version));
    }
    let address = image.as_ptr() as usize;
    if !address.is_multiple_of(ELF64_HEADER_ALIGNMENT) {
        return Err(ElfError::ImageMisaligned { address });
    }
    if header.machine != EM_AARCH64 {
        return Err(ElfError::Machine(header.machine));
    }
    match header.file_type {
        ET_EXEC | ET_DYN => {}
        file_type => return Err(ElfError::FileType(file_type)),
    }
    if usize::from(header.header_size) != ELF64_HEADER_SIZE {
        return Err(ElfError::HeaderSize(header.header_size));
    }
    validate_program_header_table(image, &header)?;
    let mut loadable_segments = 0;
    for (segment, program_header) in program_headers(image, &header).enumerate() {
        match program_header.segment_type {
            PT_INTERP => return Err(ElfError::DynamicallyLinked { segment }),
            PT_LOAD => {
                validate_loadable_segment(image.len(), segment, &program_header, limits)?;
                loadable_segments += 1;
            }
            _ => {}
        }
    }
    if loadable_segments == 0 {
        return Err(ElfError::NoLoadableSegment);
    }
    Ok(ValidExecutable { image, header })
}

/// Entry size, count, alignment and bounds of the program-header table.
fn validate_program_header_table(image: &[u8], header: &Elf64Header) -> Result<(), ElfError> {
    if usize::from(header.program_header_entry_size) != ELF64_PROGRAM_HEADER_SIZE {
        return Err(ElfError::ProgramHeaderEntrySize(header.program_header_entry_size));
    }
    let count = header.program_header_count;
    if count == 0 {
        return Err(ElfError::NoProgramHeaders);
    }
    // At most 1170 * 56 bytes, so neither the product nor its conversion can overflow.
    let table_size = usize::from(count) * ELF64_PROGRAM_HEADER_SIZE;
    if table_size > MAX_PROGRAM_HEADER_TABLE_SIZE {
        return Err(ElfError::TooManyProgramHeaders(count));
    }
    let offset = header.program_header_offset;
    if !offset.is_multiple_of(ELF64_HEADER_ALIGNMENT as u64) {
        return Err(ElfError::ProgramHeaderTableMisaligned { offset });
    }
    // The parser takes offset 0 for "no program headers"; any offset inside the header is a corrupt file.
    if offset < ELF64_HEADER_SIZE as u64 {
        return Err(ElfError::ProgramHeaderTableInHeader { offset });
    }
    let end = offset.checked_add(table_size as u64);
    if end.is_none_or(|end| end > image.len() as u64) {
        return Err(ElfError::ProgramHeaderTablePastEnd { offset, end, file_length: image.len() });
    }
    Ok(())
}

/// File range, sizes, address range and alignment of the `PT_LOAD` segment number `segment`.
fn validate_loadable_segment(
    file_length: usize,
    segment: usize,
    program_header: &Elf64ProgramHeader,
    limits: UserAddressLimits,
) -> Result<(), ElfError> {
    let Elf64ProgramHeader { offset, file_size, memory_size, virtual_address, align, .. } = *program_header;
    if offset.checked_add(file_size).is_none_or(|end| end > file_length as u64) {
        return Err(ElfError::SegmentPastEnd { segment, offset, file_size, file_length });
    }
    if file_size > memory_size {
        return Err(ElfError::SegmentFileSizeAboveMemorySize { segment, file_size, memory_size });
    }
    let Some(end) = virtual_address.checked_add(memory_size) else {
        return Err(ElfError::SegmentAddressOverflow { segment, virtual_address, memory_size });
    };
    if end > limits.user_va_end {
        return Err(ElfError::SegmentAboveUserRange { segment, end, user_va_end: limits.user_va_end });
    }
    if align > 1 {
        if !align.is_power_of_two() {
            return Err(ElfError::SegmentAlignment { segment, align });
        }
        let page_size = limits.page_size;
        if page_size > 0 && offset % page_size != virtual_address % page_size {
            return Err(ElfError::SegmentOffsetAddressMismatch { segment, offset, virtual_address, page_size });
        }
    }
    Ok(())
}

/// The program headers of a table whose bounds were checked; stops early (instead of panicking) at the end
/// of `image` if they were not.
fn program_headers<'image>(
    image: &'image [u8],
    header: &Elf64Header,
) -> impl Iterator<Item = Elf64ProgramHeader> + 'image {
    let table = usize::try_from(header.program_header_offset).ok().and_then(|offset| image.get(offset..));
    table
        .unwrap_or_default()
        .chunks_exact(ELF64_PROGRAM_HEADER_SIZE)
        .take(usize::from(header.program_header_count))
        .filter_map(Elf64ProgramHeader::decode)
}

fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(offset..offset.checked_add(2)?)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(offset..offset.checked_add(8)?)?.try_into().ok()?))
}

#[cfg(test)]
mod tests;
