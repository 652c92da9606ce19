// SPDX-License-Identifier: GPL-2.0-only

//! The checksummed 64-byte records that the stream tests exchange.
//!
//! A record carries a magic number, the writer's id, a sequence number, a
//! payload derived from both and an FNV-1a checksum of everything before
//! it, so a reader can tell an intact record from a torn, shifted or
//! corrupted one without any other context.

/// The size of a record in bytes.
pub const RECORD: usize = 64;

/// The first word of every record.
pub const MAGIC: u32 = 0x4d59_4456;

/// The payload bytes of a record.
pub const PAYLOAD: usize = 40;

/// FNV-1a, 64-bit.
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn payload_byte(writer: u32, seq: u32, i: usize) -> u8 {
    (writer.wrapping_mul(131) ^ seq.wrapping_mul(17)).wrapping_add(i as u32) as u8
}

/// Record `seq` of `writer`: magic, writer, seq, payload length, payload, FNV-1a checksum.
pub fn record(writer: u32, seq: u32) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    r[4..8].copy_from_slice(&writer.to_le_bytes());
    r[8..12].copy_from_slice(&seq.to_le_bytes());
    r[12..16].copy_from_slice(&(PAYLOAD as u32).to_le_bytes());
    for (i, b) in r[16..16 + PAYLOAD].iter_mut().enumerate() {
        *b = payload_byte(writer, seq, i);
    }
    let sum = fnv1a(&r[..56]);
    r[56..64].copy_from_slice(&sum.to_le_bytes());
    r
}

/// The little-endian `u32` at byte `at` of `r`.
pub fn word(r: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([r[at], r[at + 1], r[at + 2], r[at + 3]])
}

/// Checks a record; returns `(writer, seq)` if it is intact.
pub fn parse(r: &[u8]) -> Option<(u32, u32)> {
    if r.len() != RECORD {
        return None;
    }
    let (w, s) = (word(r, 4), word(r, 8));
    (word(r, 0) == MAGIC && word(r, 12) == PAYLOAD as u32 && r == record(w, s)).then_some((w, s))
}
