//! The random part of the names we make beside others: listener FIFOs
//! in a fifodir, and work-in-progress trees beside an instance.

use std::time::{SystemTime, UNIX_EPOCH};

/// Six random characters from a file-name-safe alphabet.
pub fn suffix() -> [u8; 6] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut raw = [0u8; 6];
    // SAFETY: raw is a valid 6-byte buffer.
    let n = unsafe { libc::getrandom(raw.as_mut_ptr().cast(), raw.len(), 0) };
    if n != raw.len() as isize {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mix = t as u64 ^ ((std::process::id() as u64) << 32);
        raw = mix.to_le_bytes()[..6].try_into().unwrap_or_default();
    }
    raw.map(|b| ALPHABET[(b & 63) as usize])
}

/// This process's token, `PID.RANDOM`, made once: what names and marks
/// its work on disk (see crate::journal).
/// After an exec within a chain, the token handed on with the log
/// (`S6I_LOG=FD:TOKEN:...`) stays this process's, when it names this pid.
pub fn token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        let me = format!("{}.", std::process::id());
        if let Some(v) = std::env::var_os("S6I_LOG") {
            let v = v.to_string_lossy().into_owned();
            if let Some(t) = v
                .split(':')
                .nth(1)
                .filter(|t| t.starts_with(&me) && t.len() == me.len() + 6)
            {
                return t.to_string();
            }
        }
        let mut t = me.into_bytes();
        t.extend_from_slice(&suffix());
        String::from_utf8(t).unwrap_or_default()
    })
}
