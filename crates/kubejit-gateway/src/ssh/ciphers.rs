//! The ciphers the gateway offers: AES-GCM only where the CPU does AES in hardware, since an SSH
//! client picks the first of *its* ciphers the server offers (RFC 4253 §7.1), not the server's.

use russh::cipher::{AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305, Name};

/// With AES and carry-less multiplication in hardware, AES-GCM is the cheapest authenticated
/// cipher russh (ring) has: port-forward bytes are sealed and opened once each on the gateway,
/// and OpenSSH's default, chacha20-poly1305, cost the gateway about 2.5 times as much CPU per
/// byte (docs/benchmarks.md `## SSH gateway`). Offering chacha20-poly1305 at all would make
/// every OpenSSH client choose it, so it is not offered there; every OpenSSH since 6.2 (2013)
/// speaks AES-GCM. Without AES hardware, chacha20-poly1305 stays first (constant time in
/// software, where table-free AES is slow).
const HARDWARE_AES: &[Name] = &[AES_128_GCM, AES_256_GCM];
const SOFTWARE_AES: &[Name] = &[CHACHA20_POLY1305, AES_256_GCM, AES_128_GCM];

/// The ciphers to offer on this machine, most preferred first.
pub fn offered() -> &'static [Name] {
    if aes_in_hardware() {
        HARDWARE_AES
    } else {
        SOFTWARE_AES
    }
}

/// Whether AES-GCM runs on AES and carry-less-multiply instructions here.
pub fn aes_in_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_aead_ciphers_are_offered_and_chacha_only_without_aes_hardware() {
        let offered = offered();
        assert!(!offered.is_empty());
        assert_eq!(
            offered.contains(&CHACHA20_POLY1305),
            !aes_in_hardware(),
            "{offered:?}"
        );
        for name in offered {
            assert!(
                [AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305].contains(name),
                "{name:?}"
            );
        }
    }
}
