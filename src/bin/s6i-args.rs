//! s6i-args: parse an execline script's own arguments (from the
//! environment) and hand them back as single-word variables.

use s6i::args::{self, Group};
use s6i::diag::{self, Error, EXIT_USAGE};
use s6i::getopt::{number, Getopt};
use s6i::name;

const USAGE: &str = "s6i-args [ -o optspec ] [ -n min ] [ -i index ] -u usage [ prog... ]";

fn main() {
    diag::run(USAGE, |argv| {
        let mut groups: Vec<Group> = Vec::new();
        let (mut min, mut name_at, mut usage) = (0usize, 0usize, None);
        let mut opts = Getopt::new(&argv, "o:n:i:u:");
        for opt in opts.by_ref() {
            match opt? {
                (b'o', Some(v)) => {
                    groups = args::parse_spec(v.as_encoded_bytes()).ok_or(Error::Usage)?
                }
                (b'n', Some(v)) => min = number(v)? as usize,
                (b'i', Some(v)) => name_at = number(v)? as usize,
                (b'u', Some(v)) => usage = Some(v.to_owned()),
                _ => return Err(Error::Usage),
            }
        }
        let usage = usage.ok_or(Error::Usage)?;
        if name_at > min {
            return Err(Error::Usage);
        }
        let script_args = args::positionals().ok_or_else(|| {
            Error::new(
                EXIT_USAGE,
                "no positional parameters in the environment: run me from execlineb",
            )
        })?;
        diag::set_prog(args::usage_prog(&usage));
        let parsed = args::parse(&groups, &script_args, min).map_err(|e| match e {
            Error::Usage => Error::UsageLine(usage.as_encoded_bytes().to_vec()),
            e => e,
        })?;
        if name_at > 0 {
            name::check(parsed.operands[name_at - 1].as_encoded_bytes())?;
        }
        args::export(&parsed, script_args.len());
        Ok(opts.rest().to_vec())
    })
}
