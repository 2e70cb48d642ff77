//! The argument step of the scripts (`s6i-args`).
//!
//! An execline script started by `execlineb` without `-s`/`-S` finds its
//! own arguments in the environment, as `#`, `1`, `2`..., never in its
//! argv. This step parses them with getopt, checks them, and puts the
//! result back into the environment: the operands as `#`, `1`, `2`...,
//! each option group as one variable holding the option as one word
//! (`-d`, `-t5000`), unset when absent. The script then reads them with
//! `importas`, which substitutes exactly one word per variable (or none
//! for an unset one). A user's word can thus land only where the script
//! puts a variable, never in the place of a program.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::diag::Error;
use crate::getopt::{number, Getopt};

/// One option group of a spec: letters sharing one variable (the last one
/// given wins), and the kind of argument they take.
#[derive(Debug, PartialEq, Eq)]
pub struct Group {
    pub letters: Vec<u8>,
    pub arg: Arg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    None,
    /// `x:` any word.
    Word,
    /// `x#` an unsigned 32-bit number, as s6 reads timeouts.
    Number,
}

impl Group {
    /// The environment variable of the group: its letters.
    pub fn var(&self) -> OsString {
        OsString::from_vec(self.letters.clone())
    }
}

/// Parse a spec such as `dD,f,P,t#`: comma-separated groups of letters,
/// the last letter of a group optionally followed by `:` or `#`.
pub fn parse_spec(spec: &[u8]) -> Option<Vec<Group>> {
    let mut groups = Vec::new();
    if spec.is_empty() {
        return Some(groups);
    }
    for g in spec.split(|&b| b == b',') {
        let (letters, arg) = match g.last() {
            Some(b':') => (&g[..g.len() - 1], Arg::Word),
            Some(b'#') => (&g[..g.len() - 1], Arg::Number),
            _ => (g, Arg::None),
        };
        if letters.is_empty() || !letters.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        groups.push(Group {
            letters: letters.to_vec(),
            arg,
        });
    }
    Some(groups)
}

/// What the parse gives: the operands, and for each group its option word.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub operands: Vec<OsString>,
    pub options: Vec<(OsString, Option<OsString>)>,
}

/// Parse `args` against `groups`; at least `min` operands.
pub fn parse(groups: &[Group], args: &[OsString], min: usize) -> Result<Parsed, Error> {
    let mut optstring = String::new();
    for g in groups {
        for &l in &g.letters {
            optstring.push(l as char);
            if g.arg != Arg::None {
                optstring.push(':');
            }
        }
    }
    let mut words: Vec<Option<OsString>> = vec![None; groups.len()];
    let mut opts = Getopt::new(args, &optstring);
    for opt in opts.by_ref() {
        let (c, value) = opt?;
        let i = groups
            .iter()
            .position(|g| g.letters.contains(&c))
            .ok_or(Error::Usage)?;
        let mut word = vec![b'-', c];
        if let Some(v) = value {
            if groups[i].arg == Arg::Number {
                number(v)?;
            }
            word.extend_from_slice(v.as_bytes());
        }
        words[i] = Some(OsString::from_vec(word));
    }
    let operands = opts.rest().to_vec();
    if operands.len() < min {
        return Err(Error::Usage);
    }
    let options = groups.iter().map(Group::var).zip(words).collect();
    Ok(Parsed { operands, options })
}

/// The script's arguments, read from the environment (`#`, `1`, `2`...).
pub fn positionals() -> Option<Vec<OsString>> {
    let n: usize = std::env::var_os("#")?.to_str()?.parse().ok()?;
    Some(
        (1..=n)
            .map(|i| std::env::var_os(i.to_string()).unwrap_or_default())
            .collect(),
    )
}

/// Replace the script's arguments in the environment with the parse.
pub fn export(parsed: &Parsed, old_count: usize) {
    std::env::set_var("#", parsed.operands.len().to_string());
    for (i, op) in parsed.operands.iter().enumerate() {
        std::env::set_var((i + 1).to_string(), op);
    }
    for i in parsed.operands.len() + 1..=old_count {
        std::env::remove_var(i.to_string());
    }
    for (var, word) in &parsed.options {
        match word {
            Some(w) => std::env::set_var(var, w),
            None => std::env::remove_var(var),
        }
    }
}

/// The program name of a usage line: its first word.
pub fn usage_prog(usage: &OsStr) -> &[u8] {
    usage
        .as_bytes()
        .split(|&b| b == b' ')
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn spec() {
        let g = parse_spec(b"dD,f,t#,u:").unwrap();
        assert_eq!(g.len(), 4);
        assert_eq!(
            g[0],
            Group {
                letters: b"dD".to_vec(),
                arg: Arg::None
            }
        );
        assert_eq!(g[2].arg, Arg::Number);
        assert_eq!(g[3].arg, Arg::Word);
        assert!(parse_spec(b"d,,f").is_none());
        assert!(parse_spec(b"-").is_none());
        assert_eq!(parse_spec(b""), Some(vec![]));
    }

    #[test]
    fn last_of_a_group_wins_and_words_stay_whole() {
        let g = parse_spec(b"dD,f,P,t#").unwrap();
        let p = parse(
            &g,
            &v(&["-dD", "-t", "50", "-d", "svc", "na me", "rm", "-rf"]),
            2,
        )
        .unwrap();
        assert_eq!(p.operands, v(&["svc", "na me", "rm", "-rf"]));
        assert_eq!(p.options[0], ("dD".into(), Some("-d".into())));
        assert_eq!(p.options[1], ("f".into(), None));
        assert_eq!(p.options[3], ("t".into(), Some("-t50".into())));
    }

    #[test]
    fn bad_usage() {
        let g = parse_spec(b"X,t#").unwrap();
        assert_eq!(parse(&g, &v(&["-t", "x", "a", "b"]), 2), Err(Error::Usage));
        assert_eq!(parse(&g, &v(&["-q", "a", "b"]), 2), Err(Error::Usage));
        assert_eq!(parse(&g, &v(&["a"]), 2), Err(Error::Usage));
        assert_eq!(
            parse(&g, &v(&["--", "-a", "b"]), 2).unwrap().operands,
            v(&["-a", "b"])
        );
    }
}
