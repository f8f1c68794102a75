//! A stable hash: FNV-1a, 64 bits.
//!
//! Some hashes name things that outlive a process: a mirror's storage key
//! (`outbox::mirror_id`), the shard of an Edge that holds a cache key
//! (`edge_name::shard_for_key`). Every Worker isolate, every build and every
//! release must compute the same value for the same input, or a stored key
//! is lost and a region keeps two copies of one entry. The standard
//! library's hashers promise none of that (`RandomState` is seeded per
//! process, and `DefaultHasher`'s algorithm "may change at any moment"), so
//! the hash is written here: FNV-1a is a dozen lines, fixed by its
//! reference, and spreads short keys well enough for storage names and a
//! shard count in the tens.

/// FNV-1a offset basis for 64 bits, from the reference (Fowler, Noll, Vo).
const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV prime for 64 bits, from the same reference.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// The FNV-1a hash of `bytes`.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(OFFSET_BASIS, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_test_vectors() {
        // From the FNV reference's test suite (test vectors for FNV-1a 64).
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
