//! Option parsing as skarnet's subgetopt does it: POSIX getopt, clustered
//! short options, no permutation. Parsing stops at the first operand, at
//! `--` (which is consumed) or at a lone `-` (an operand): a chainloader
//! must never eat its child's options.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::diag::Error;

/// One parsed option: its letter, and its argument if it takes one.
pub type Opt<'a> = (u8, Option<&'a OsStr>);

/// An iterator over the options of `args` (argv without argv[0]).
/// `optstring` is getopt's: a letter followed by `:` takes an argument.
pub struct Getopt<'a> {
    args: &'a [OsString],
    optstring: &'a [u8],
    ind: usize,
    pos: usize,
}

impl<'a> Getopt<'a> {
    pub fn new(args: &'a [OsString], optstring: &'a str) -> Self {
        Getopt {
            args,
            optstring: optstring.as_bytes(),
            ind: 0,
            pos: 0,
        }
    }

    /// Index of the first operand, once `next` has returned None.
    pub fn index(&self) -> usize {
        self.ind
    }

    /// The operands and whatever follows them.
    pub fn rest(&self) -> &'a [OsString] {
        &self.args[self.ind..]
    }

    fn takes_arg(&self, c: u8) -> Option<bool> {
        let i = self.optstring.iter().position(|&o| o == c && c != b':')?;
        Some(self.optstring.get(i + 1) == Some(&b':'))
    }
}

impl<'a> Iterator for Getopt<'a> {
    type Item = Result<Opt<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let arg = self.args.get(self.ind)?.as_bytes();
        if self.pos == 0 {
            if arg == b"--" {
                self.ind += 1;
                return None;
            }
            if arg.len() < 2 || arg[0] != b'-' {
                return None;
            }
            self.pos = 1;
        }
        let c = arg[self.pos];
        self.pos += 1;
        let at_end = self.pos >= arg.len();
        // An unknown option is skipped like one without an argument, so
        // that a caller going on after the error stays in bounds.
        let takes_arg = self.takes_arg(c);
        if takes_arg != Some(true) {
            if at_end {
                self.ind += 1;
                self.pos = 0;
            }
            return Some(takes_arg.map(|_| (c, None)).ok_or(Error::Usage));
        }
        let value = if !at_end {
            OsStr::from_bytes(&arg[self.pos..])
        } else {
            match self.args.get(self.ind + 1) {
                Some(v) => {
                    self.ind += 1;
                    v.as_os_str()
                }
                None => {
                    self.ind += 1;
                    self.pos = 0;
                    return Some(Err(Error::Usage));
                }
            }
        };
        self.ind += 1;
        self.pos = 0;
        Some(Ok((c, Some(value))))
    }
}

/// A number as s6 reads one (uint0_scan): decimal digits only, fitting in
/// 32 bits.
pub fn number(value: &OsStr) -> Result<u32, Error> {
    number64(value)?.try_into().map_err(|_| Error::Usage)
}

/// A number as s6 reads a size (uint640_scan): decimal digits only,
/// fitting in 64 bits.
pub fn number64(value: &OsStr) -> Result<u64, Error> {
    let b = value.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return Err(Error::Usage);
    }
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Error::Usage)
}

/// Split the operands of a step: exactly `n` of them, then the program to
/// chainload into.
pub fn operands(rest: &[OsString], n: usize) -> Result<(&[OsString], &[OsString]), Error> {
    if rest.len() < n {
        return Err(Error::Usage);
    }
    Ok(rest.split_at(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn parse(a: &[&str], o: &str) -> (Vec<(char, Option<String>)>, usize) {
        let args = v(a);
        let mut g = Getopt::new(&args, o);
        let mut got = vec![];
        for r in g.by_ref() {
            let (c, val) = r.unwrap();
            got.push((c as char, val.map(|s| s.to_string_lossy().into_owned())));
        }
        (got, g.index())
    }

    #[test]
    fn clusters_and_arguments() {
        let (got, ind) = parse(&["-dP", "-t5", "-t", "7", "svc", "-x"], "dPt:");
        assert_eq!(
            got,
            vec![
                ('d', None),
                ('P', None),
                ('t', Some("5".into())),
                ('t', Some("7".into()))
            ]
        );
        assert_eq!(ind, 4);
    }

    #[test]
    fn stops_at_double_dash_and_dash() {
        assert_eq!(parse(&["-d", "--", "-P"], "dP"), (vec![('d', None)], 2));
        assert_eq!(parse(&["-", "-d"], "d").1, 0);
    }

    #[test]
    fn unknown_and_missing_argument_are_usage() {
        let args = v(&["-z"]);
        assert_eq!(Getopt::new(&args, "d").next(), Some(Err(Error::Usage)));
        let args = v(&["-t"]);
        assert_eq!(Getopt::new(&args, "t:").next(), Some(Err(Error::Usage)));
        let args = v(&["-:"]);
        assert_eq!(Getopt::new(&args, "t:").next(), Some(Err(Error::Usage)));
    }

    #[test]
    fn number_like_uint0_scan() {
        assert_eq!(number(OsStr::new("0")), Ok(0));
        assert_eq!(number(OsStr::new("4294967295")), Ok(u32::MAX));
        for bad in ["", "4294967296", "1x", "-1", "+1", " 1"] {
            assert_eq!(number(OsStr::new(bad)), Err(Error::Usage), "{bad:?}");
        }
    }
}
