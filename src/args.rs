//! The argument step of the scripts (`s6i-args`).
//!
//! An execline script started by `execlineb` without `-s`/`-S` finds its
//! own arguments in the environment, as `#`, `1`, `2`..., never in its
//! argv. This step parses them with getopt, checks them, and puts the
//! result back into the environment: the operands as `#`, `1`, `2`...,
//! and each option group as one variable, unset when no option of the
//! group was given. A plain group holds its last option as one word
//! (`-d`, `-t5000`); an accumulating group holds all of its options, in
//! order, one word per line, for `importas -sd "\n"` to split. The
//! script reads them with `importas`, which substitutes a variable in
//! the place the script gives it, as whole words, or as nothing when it
//! is unset. A user's word can thus land only where the script puts a
//! variable, after the options of a step, never in the place of a program.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::diag::Error;
use crate::getopt::{number, Getopt};

/// One option group of a spec: letters sharing one variable.
#[derive(Debug, PartialEq, Eq)]
pub struct Group {
    /// The environment variable of the group.
    pub var: Vec<u8>,
    /// The letters, each with the kind of argument it takes.
    pub letters: Vec<(u8, Arg)>,
    /// Keep every option given, in order (one word each, joined by
    /// newlines), instead of only the last one.
    pub accumulate: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    None,
    /// `x:` any word.
    Word,
    /// `x#` an unsigned 32-bit number, as s6 reads timeouts.
    Number,
}

fn is_letter(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Parse a spec such as `dD,f,t#,fields=uwNo:+`: comma-separated groups;
/// a group is an optional `name=`, letters each optionally followed by
/// `:` or `#`, and an optional `+` to accumulate. Without a name, the
/// variable is named by the group's letters.
pub fn parse_spec(spec: &[u8]) -> Option<Vec<Group>> {
    let mut groups = Vec::new();
    if spec.is_empty() {
        return Some(groups);
    }
    for g in spec.split(|&b| b == b',') {
        let (name, mut items) = match g.iter().position(|&b| b == b'=') {
            Some(i) => (Some(&g[..i]), &g[i + 1..]),
            None => (None, g),
        };
        let accumulate = items.last() == Some(&b'+');
        if accumulate {
            items = &items[..items.len() - 1];
        }
        let mut letters = Vec::new();
        for &b in items {
            match (b, letters.last_mut()) {
                (b':', Some((_, a @ Arg::None))) => *a = Arg::Word,
                (b'#', Some((_, a @ Arg::None))) => *a = Arg::Number,
                (c, _) if is_letter(c) => letters.push((c, Arg::None)),
                _ => return None,
            }
        }
        let var = match name {
            Some(n) if !n.is_empty() && n.iter().all(|&b| is_letter(b) || b == b'_') => n.to_vec(),
            Some(_) => return None,
            None => letters.iter().map(|&(c, _)| c).collect(),
        };
        if letters.is_empty() {
            return None;
        }
        groups.push(Group {
            var,
            letters,
            accumulate,
        });
    }
    Some(groups)
}

/// What the parse gives: the operands, and for each group's variable its
/// value (None: unset).
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub operands: Vec<OsString>,
    pub options: Vec<(OsString, Option<OsString>)>,
}

/// Parse `args` against `groups`; at least `min` operands.
pub fn parse(groups: &[Group], args: &[OsString], min: usize) -> Result<Parsed, Error> {
    let mut optstring = String::new();
    for &(c, arg) in groups.iter().flat_map(|g| &g.letters) {
        optstring.push(c as char);
        if arg != Arg::None {
            optstring.push(':');
        }
    }
    let mut words: Vec<Vec<Vec<u8>>> = vec![Vec::new(); groups.len()];
    let mut opts = Getopt::new(args, &optstring);
    for opt in opts.by_ref() {
        let (c, value) = opt?;
        let i = groups
            .iter()
            .position(|g| g.letters.iter().any(|&(l, _)| l == c))
            .ok_or(Error::Usage)?;
        let arg = groups[i]
            .letters
            .iter()
            .find(|&&(l, _)| l == c)
            .map_or(Arg::None, |&(_, a)| a);
        let mut word = vec![b'-', c];
        if let Some(v) = value {
            if arg == Arg::Number {
                number(v)?;
            }
            word.extend_from_slice(v.as_bytes());
        }
        if groups[i].accumulate {
            // Newlines separate the words of the variable.
            if word.contains(&b'\n') {
                return Err(Error::Usage);
            }
        } else {
            words[i].clear();
        }
        words[i].push(word);
    }
    let operands = opts.rest().to_vec();
    if operands.len() < min {
        return Err(Error::Usage);
    }
    let options = groups
        .iter()
        .zip(words)
        .map(|(g, w)| {
            let value = (!w.is_empty()).then(|| OsString::from_vec(w.join(&b'\n')));
            (OsString::from_vec(g.var.clone()), value)
        })
        .collect();
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
        let g = parse_spec(b"dD,f,t#,u:,fields=uwo:+").unwrap();
        assert_eq!(g.len(), 5);
        assert_eq!(
            g[0],
            Group {
                var: b"dD".to_vec(),
                letters: vec![(b'd', Arg::None), (b'D', Arg::None)],
                accumulate: false
            }
        );
        assert_eq!(g[2].letters, vec![(b't', Arg::Number)]);
        assert_eq!(g[3].letters, vec![(b'u', Arg::Word)]);
        assert_eq!(g[4].var, b"fields");
        assert!(g[4].accumulate);
        assert_eq!(g[4].letters[2], (b'o', Arg::Word));
        for bad in [&b"d,,f"[..], b"-", b":", b"=d", b"a b=c", b"x=", b"t::"] {
            assert!(parse_spec(bad).is_none(), "{bad:?}");
        }
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
    fn accumulated_options_keep_their_order() {
        let g = parse_spec(b"n,fields=uwo:+").unwrap();
        let p = parse(
            &g,
            &v(&["-u", "-o", "pid,up", "-nw", "-oready", "svc", "x"]),
            2,
        )
        .unwrap();
        assert_eq!(p.options[0], ("n".into(), Some("-n".into())));
        assert_eq!(
            p.options[1],
            ("fields".into(), Some("-u\n-opid,up\n-w\n-oready".into()))
        );
        assert_eq!(
            parse(&g, &v(&["-o", "a\nb", "s", "x"]), 2),
            Err(Error::Usage)
        );
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
