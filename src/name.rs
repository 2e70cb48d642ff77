//! Instance names.
//!
//! s6 refuses a name that is empty, starts with a dot, or holds a space,
//! tab, form feed, carriage return or newline. We also refuse `/`: s6's
//! programs accept it, which lets `a/../../x` escape `instances/`.
//! Any other byte, UTF-8 or not, is fine.

use crate::diag::{Error, EXIT_USAGE};

/// Check a name against the rules above (exit 100 when refused).
pub fn check(name: &[u8]) -> Result<(), Error> {
    if valid(name) {
        Ok(())
    } else {
        Err(Error::new(EXIT_USAGE, "invalid instance name"))
    }
}

pub fn valid(name: &[u8]) -> bool {
    !name.is_empty() && name[0] != b'.' && !name.iter().any(|b| b" \t\x0c\r\n/".contains(b))
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn rules() {
        for ok in [&b"a"[..], b"web-1", b"a.b", b"\xff\xfe", b"a\x0bb", b"-x"] {
            assert!(valid(ok), "{ok:?}");
        }
        for bad in [
            &b""[..],
            b".",
            b".x",
            b"a b",
            b"a\tb",
            b"a\nb",
            b"a\rb",
            b"a\x0cb",
            b"a/b",
            b"/",
        ] {
            assert!(!valid(bad), "{bad:?}");
        }
    }
}
