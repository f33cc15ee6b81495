//! ARM PL011 UART driver, the console of both boards (QEMU virt and the Raspberry Pi 4's UART0).

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    FR [ TXFF OFFSET(5) NUMBITS(1) [], BUSY OFFSET(3) NUMBITS(1) [] ],
    LCR_H [ FEN OFFSET(4) NUMBITS(1) [], WLEN OFFSET(5) NUMBITS(2) [ EightBit = 3 ] ],
    CR [ UARTEN OFFSET(0) NUMBITS(1) [], TXE OFFSET(8) NUMBITS(1) [], RXE OFFSET(9) NUMBITS(1) [] ]
}

register_structs! {
    Pl011Registers {
        (0x00 => data: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => flags: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x24 => integer_baud: ReadWrite<u32>),
        (0x28 => fractional_baud: ReadWrite<u32>),
        (0x2c => line_control: ReadWrite<u32, LCR_H::Register>),
        (0x30 => control: ReadWrite<u32, CR::Register>),
        (0x34 => _reserved2),
        (0x44 => interrupt_clear: WriteOnly<u32>),
        (0x48 => @END),
    }
}

/// A PL011 at a fixed kernel virtual address.
pub struct Pl011 {
    base: usize,
}

impl Pl011 {
    /// # Safety
    /// `base` must be the kernel virtual address of a PL011's registers, mapped as device memory, and no
    /// other driver may use that UART.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn registers(&self) -> &Pl011Registers {
        // SAFETY: `new`'s contract: `base` points at the mapped register block for the kernel's lifetime.
        unsafe { &*(self.base as *const Pl011Registers) }
    }

    /// 8N1 with FIFOs at `baud`, from the UART's reference clock `clock_hz`.
    pub fn init(&self, clock_hz: u32, baud: u32) {
        let registers = self.registers();
        while registers.flags.is_set(FR::BUSY) {}
        registers.control.set(0);
        registers.interrupt_clear.set(0x7ff);
        // Divisor = clock / (16 * baud) as a 16.6 fixed-point number, rounded.
        let divisor_x64 = (clock_hz as u64 * 4 + baud as u64 / 2) / baud as u64;
        registers.integer_baud.set((divisor_x64 >> 6) as u32);
        registers.fractional_baud.set((divisor_x64 & 0x3f) as u32);
        registers.line_control.write(LCR_H::WLEN::EightBit + LCR_H::FEN::SET);
        registers.control.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Writes one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        let registers = self.registers();
        while registers.flags.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        registers.data.set(byte as u32);
    }

    /// Writes bytes, turning "\n" into "\r\n" for terminals.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
    }
}
