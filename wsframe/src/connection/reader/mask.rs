//! Unmasking a client's payload in place, eight bytes at a time.
//!
//! Every byte of a client frame's payload is XORed with the frame's 4-byte key, the key
//! cycling from the payload's first byte. The payload is unmasked as it arrives, so a
//! call may start anywhere in it: `offset` says how far into the payload `data` begins.
//! The loop works on whole `u64` words (which the compiler turns into vector
//! instructions) and finishes the tail byte by byte; no `unsafe` is needed.

/// XOR `data`, which starts `offset` bytes into its payload, with the cycling `key`.
pub(crate) fn unmask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut key = key;
    key.rotate_left(offset % 4);
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut words = data.chunks_exact_mut(8);
    for chunk in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    // The tail starts at a multiple of 8 bytes, so the key's phase is unchanged.
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytewise(data: &[u8], key: [u8; 4], offset: usize) -> Vec<u8> {
        data.iter()
            .enumerate()
            .map(|(i, b)| b ^ key[(i + offset) % 4])
            .collect()
    }

    #[test]
    fn matches_the_bytewise_definition_at_every_offset_and_length() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let data: Vec<u8> = (0..100u8).collect();
        for len in 0..data.len() {
            for offset in 0..9 {
                let mut got = data[..len].to_vec();
                unmask(&mut got, key, offset);
                assert_eq!(
                    got,
                    bytewise(&data[..len], key, offset),
                    "len {len} offset {offset}"
                );
            }
        }
    }

    #[test]
    fn unmasking_in_pieces_equals_unmasking_at_once() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..77u8).map(|n| n.wrapping_mul(37)).collect();
        let mut whole = data.clone();
        unmask(&mut whole, key, 0);
        for cut in [1, 3, 4, 5, 8, 13, 40] {
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(cut);
            unmask(a, key, 0);
            unmask(b, key, cut);
            assert_eq!(pieces, whole, "cut at {cut}");
        }
    }
}
