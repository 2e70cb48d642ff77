//! The argument step of the scripts (`s6i-args`).
//!
//! An execline script started by `execlineb` without `-s`/`-S` finds its
//! own arguments in the environment, as `#`, `1`, `2`..., and nowhere in
//! its text: execlineb substitutes nothing. This step reads them, parses
//! them with getopt as s6's programs do, checks them, and then replaces,
//! in the rest of the script (its own argv), every word that is exactly
//! `$var` or `${var}` by the words of that variable:
//!
//! - an operand: exactly one word;
//! - a plain option group: its last option (`-d`, or `-t` and `5000`:
//!   an argument is a word of its own), or no word at all when none was
//!   given;
//! - an accumulating group: every option of the group, in order.
//!
//! A user's word can thus only ever land where the script names a
//! variable, as one word in an argument list, never in the place of a
//! program: the script itself says where each step's arguments end.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use bstr::ByteSlice;

use crate::diag::Error;
use crate::getopt::{number, Getopt};

/// One option group of a spec: letters sharing one variable.
#[derive(Debug, PartialEq, Eq)]
pub struct Group {
    /// The variable of the group.
    pub var: Vec<u8>,
    /// The letters, each with the kind of argument it takes.
    pub letters: Vec<(u8, Arg)>,
    /// Keep every option given, in order, instead of only the last one.
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

fn is_name(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Parse a spec such as `dD,f,t#,fields=uwo:+`: comma-separated groups;
/// a group is an optional `name=`, letters each optionally followed by
/// `:` or `#`, and an optional `+` to accumulate. Without a name, the
/// variable is named by the group's letters.
pub fn parse_spec(spec: &[u8]) -> Option<Vec<Group>> {
    let mut groups = Vec::new();
    if spec.is_empty() {
        return Some(groups);
    }
    for g in spec.split_str(",") {
        let (name, mut items) = match g.split_once_str("=") {
            Some((name, items)) => (Some(name), items),
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
                (c, _) if c.is_ascii_alphanumeric() => letters.push((c, Arg::None)),
                _ => return None,
            }
        }
        let var = match name {
            Some(n) if is_name(n) => n.to_vec(),
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

/// The names of the operands: a comma-separated list.
pub fn parse_names(list: &[u8]) -> Option<Vec<Vec<u8>>> {
    let names: Vec<Vec<u8>> = list.split_str(",").map(<[u8]>::to_vec).collect();
    names.iter().all(|n| is_name(n)).then_some(names)
}

/// A script variable: its name and its words.
pub type Var = (Vec<u8>, Vec<OsString>);

/// The variable that takes the operands after the named ones, and how
/// many it needs at least (`-r`: one, `-R`: none).
#[derive(Clone, Copy, Debug)]
pub struct Rest<'a> {
    pub var: &'a [u8],
    pub at_least: usize,
}

/// Parse `args` against `groups`, naming the first operands after
/// `names` (there must be at least that many). The operands after them
/// are the words of `rest` when it is given (there must be as many as it
/// needs), and are ignored otherwise, as s6's programs do. Returns each
/// variable with its words.
pub fn parse(groups: &[Group], names: &[Vec<u8>], rest: Option<Rest>, args: &[OsString]) -> Result<Vec<Var>, Error> {
    let mut optstring = String::new();
    for &(c, arg) in groups.iter().flat_map(|g| &g.letters) {
        optstring.push(c as char);
        if arg != Arg::None {
            optstring.push(':');
        }
    }
    let mut words: Vec<Vec<OsString>> = vec![Vec::new(); groups.len()];
    let mut opts = Getopt::new(args, &optstring);
    for opt in opts.by_ref() {
        let (c, value) = opt?;
        let i = groups
            .iter()
            .position(|g| g.letters.iter().any(|&(l, _)| l == c))
            .ok_or(Error::Usage)?;
        // An option and its argument are two words, so that an argument
        // that is empty, or looks like an option, stays an argument.
        let mut given = vec![OsString::from_vec(vec![b'-', c])];
        if let Some(v) = value {
            if groups[i].letters.contains(&(c, Arg::Number)) {
                number(v)?;
            }
            given.push(v.to_owned());
        }
        if !groups[i].accumulate {
            words[i].clear();
        }
        words[i].extend(given);
    }
    let operands = opts.rest();
    if operands.len() < names.len() + rest.map_or(0, |r| r.at_least) {
        return Err(Error::Usage);
    }
    let mut vars: Vec<Var> = names
        .iter()
        .cloned()
        .zip(operands.iter().map(|o| vec![o.clone()]))
        .collect();
    if let Some(r) = rest {
        vars.push((r.var.to_vec(), operands[names.len()..].to_vec()));
    }
    vars.extend(groups.iter().map(|g| g.var.clone()).zip(words));
    Ok(vars)
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

/// Replace every word of `argv` that is exactly `$var` or `${var}` (after
/// the leading spaces that mark a word inside an execline block) by the
/// words of that variable, each with the same leading spaces; inside a
/// longer word, replace `${var}` when the variable is one word (an
/// operand), as in `${service}/instances`. Other words stay as they are,
/// and a substituted value is never scanned again.
pub fn substitute(argv: &[OsString], vars: &[Var]) -> Vec<OsString> {
    let lookup = |n: &[u8]| vars.iter().find(|(v, _)| v == n).map(|(_, w)| w);
    let mut out = Vec::with_capacity(argv.len());
    for word in argv {
        let b = word.as_bytes();
        let depth = b.iter().take_while(|&&c| c == b' ').count();
        let (prefix, rest) = b.split_at(depth);
        let whole = rest
            .strip_prefix(b"${")
            .and_then(|r| r.strip_suffix(b"}"))
            .or_else(|| rest.strip_prefix(b"$"));
        if let Some(values) = whole.and_then(lookup) {
            out.extend(
                values
                    .iter()
                    .map(|v| OsString::from_vec([prefix, v.as_bytes()].concat())),
            );
        } else {
            out.push(OsString::from_vec(substitute_within(b, &lookup)));
        }
    }
    out
}

fn substitute_within<'a>(mut b: &[u8], lookup: &impl Fn(&[u8]) -> Option<&'a Vec<OsString>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    while let Some(i) = b.find("${") {
        let one = b[i + 2..].find_byte(b'}').and_then(|end| {
            let value = lookup(&b[i + 2..i + 2 + end]).filter(|w| w.len() == 1)?;
            Some((end, value[0].as_bytes()))
        });
        match one {
            Some((end, value)) => {
                out.extend_from_slice(&b[..i]);
                out.extend_from_slice(value);
                b = &b[i + 3 + end..];
            }
            None => {
                out.extend_from_slice(&b[..i + 2]);
                b = &b[i + 2..];
            }
        }
    }
    out.extend_from_slice(b);
    out
}

/// The program name of a usage line: its first word.
pub fn usage_prog(usage: &OsStr) -> &[u8] {
    usage.as_bytes().split_str(" ").next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn names(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
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
        assert_eq!(parse_names(b"service,name"), Some(names(&["service", "name"])));
        assert_eq!(parse_names(b"a,,b"), None);
    }

    #[test]
    fn last_of_a_group_wins_and_words_stay_whole() {
        let g = parse_spec(b"dD,f,P,t#").unwrap();
        let vars = parse(
            &g,
            &names(&["svc", "name"]),
            None,
            &v(&["-dD", "-t", "50", "-d", "s", "na me", "rm", "-rf"]),
        )
        .unwrap();
        assert_eq!(vars[0], (b"svc".to_vec(), v(&["s"])));
        assert_eq!(vars[1], (b"name".to_vec(), v(&["na me"])));
        assert_eq!(vars[2], (b"dD".to_vec(), v(&["-d"])));
        assert_eq!(vars[3], (b"f".to_vec(), v(&[])));
        assert_eq!(vars[5], (b"t".to_vec(), v(&["-t", "50"])));
    }

    #[test]
    fn accumulated_options_keep_their_order() {
        let g = parse_spec(b"n,fields=uwo:+").unwrap();
        let args = v(&["-u", "-o", "pid,up", "-nw", "-oready", "svc", "x"]);
        let vars = parse(&g, &[], None, &args).unwrap();
        assert_eq!(vars[0], (b"n".to_vec(), v(&["-n"])));
        assert_eq!(
            vars[1],
            (b"fields".to_vec(), v(&["-u", "-o", "pid,up", "-w", "-o", "ready"]))
        );
        let vars = parse(
            &g,
            &names(&["svc"]),
            Some(Rest {
                var: b"more",
                at_least: 1,
            }),
            &v(&["svc", "a", "b"]),
        )
        .unwrap();
        assert_eq!(vars[1], (b"more".to_vec(), v(&["a", "b"])));
    }

    #[test]
    fn bad_usage() {
        let g = parse_spec(b"X,t#").unwrap();
        let two = names(&["a", "b"]);
        assert_eq!(parse(&g, &two, None, &v(&["-t", "x", "a", "b"])), Err(Error::Usage));
        assert_eq!(parse(&g, &two, None, &v(&["-q", "a", "b"])), Err(Error::Usage));
        assert_eq!(parse(&g, &two, None, &v(&["a"])), Err(Error::Usage));
        assert_eq!(parse(&g, &two, None, &v(&["--", "-a", "b"])).unwrap()[0].1, v(&["-a"]));
    }

    #[test]
    fn substitution_is_by_whole_words() {
        let vars = vec![
            (b"name".to_vec(), v(&["a b"])),
            (b"opts".to_vec(), v(&["-x", "-y"])),
            (b"none".to_vec(), v(&[])),
            (b"empty".to_vec(), v(&[""])),
        ];
        let script = v(&[
            "prog", "$opts", "$none", "--", "${name}", "x$name", "$other", "{", " $name", "  $opts", " $empty", "",
        ]);
        assert_eq!(
            substitute(&script, &vars),
            v(&["prog", "-x", "-y", "--", "a b", "x$name", "$other", "{", " a b", "  -x", "  -y", " ", ""])
        );
    }
}
