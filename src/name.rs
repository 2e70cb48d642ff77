//! Instance names.
//!
//! s6 refuses a name that is empty, starts with a dot, or holds a space,
//! tab, form feed, carriage return or newline. We also refuse `/`: s6's
//! programs accept it, which lets `a/../../x` escape `instances/`.
//! Any other byte, UTF-8 or not, is fine.

use crate::diag::{Error, EXIT_USAGE};

/// Check a name against the rules above (exit 100 when refused). The
/// message shows the name, quoted, with its control bytes escaped, so
/// that an empty name or one with a newline still reads on one line.
pub fn check(name: &[u8]) -> Result<(), Error> {
    if valid(name) {
        return Ok(());
    }
    Err(quoted(name, ""))
}

/// The refusal of `name`, quoted as `check` says it, with `why` after.
fn quoted(name: &[u8], why: &str) -> Error {
    let quoted = name
        .iter()
        .fold(crate::diag::msg("invalid instance name: \""), |m, &b| match b {
            b'\n' => m.text("\\n"),
            b'\t' => m.text("\\t"),
            b'\r' => m.text("\\r"),
            b'"' | b'\\' => m.text([b'\\', b]),
            0..=0x1f | 0x7f => m.text(format!("\\x{b:02x}")),
            _ => m.text([b]),
        });
    quoted.text("\"").text(why).fatal(EXIT_USAGE)
}

/// The set commands (sync, upgrade) also refuse a name that begins with
/// `-` (exit 100): most likely an option given after the service
/// (`s6-instance-sync svc -n a` would otherwise make an instance `-n`
/// and delete every other one).
pub fn not_an_option(name: &[u8]) -> Result<(), Error> {
    if name.first() != Some(&b'-') {
        return Ok(());
    }
    let msg = crate::diag::msg("invalid instance name: \"").text(name);
    Err(msg
        .text("\": it begins with -, an option must come before the service")
        .fatal(EXIT_USAGE))
}

/// A name read from a set line, not from an argument, may also hold a
/// NUL byte or be longer than a file name may be (NAME_MAX, 255 bytes):
/// refused there (exit 100) before anything is done, not found out
/// halfway through a sync.
pub fn fits(name: &[u8]) -> Result<(), Error> {
    if name.contains(&0) {
        return Err(quoted(name, ""));
    }
    if name.len() > 255 {
        return Err(quoted(name, ": longer than 255 bytes"));
    }
    Ok(())
}

pub fn valid(name: &[u8]) -> bool {
    !name.is_empty() && name[0] != b'.' && !name.iter().any(|b| b" \t\x0c\r\n/".contains(b))
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn refusals_show_the_name_on_one_line() {
        let said = |n: &[u8]| match super::check(n) {
            Err(crate::diag::Error::Fatal { msg, .. }) => String::from_utf8_lossy(&msg).into_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(said(b""), r#"invalid instance name: """#);
        assert_eq!(said(b"gamma delta"), r#"invalid instance name: "gamma delta""#);
        assert_eq!(said(b"a\nb\x0c\"/"), r#"invalid instance name: "a\nb\x0c\"/""#);
    }

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
