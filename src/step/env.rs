//! s6i-env: set one instance's `env/` to the template's `env/` with the
//! variables of a block added or replacing, swapped in whole (see
//! crate::envdir, which sync uses too). Nothing is printed and nothing
//! is restarted: a script chains s6-instance-control for that.
//!
//! A copy that s6i-clone made earlier in the chain and keeps private
//! until s6i-link gets its `env/` there, before anyone can see it.
//!
//! With `-S fd`, the environments come from the set that s6i-plan saved
//! instead, for such copies only: each named instance gets its `env/`
//! before its supervisor ever reads it, and if one cannot, every named
//! copy is removed, as a failed create's.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use crate::diag::{Error, EXIT_USAGE};
use crate::envdir::{self, Env};
use crate::getopt::Getopt;
use crate::layout::Service;

pub const USAGE: &str =
    "s6i-env service name { KEY=VALUE... } prog... | s6i-env [ -e ] -S fd service name|{ name... } prog...";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let first = argv.first().map(|w| w.as_bytes());
    if first.is_some_and(|w| w.len() > 1 && w[0] == b'-' && w != b"--") {
        return from_set(&argv);
    }
    let mut opts = Getopt::new(&argv, "");
    if let Some(opt) = opts.next() {
        opt?;
        return Err(Error::Usage);
    }
    let rest = opts.rest();
    let [service, name, block @ ..] = rest else {
        return Err(Error::Usage);
    };
    crate::name::check(name.as_bytes())?;
    let service = Service::new(service)?;
    // The block as execlineb hands it on: each word behind a space, an
    // empty word to close.
    let end = block.iter().position(|w| w.is_empty()).ok_or(Error::Usage)?;
    let mut vars = Env::new();
    for word in &block[..end] {
        let word = word.as_bytes().strip_prefix(b" ").ok_or(Error::Usage)?;
        let (key, value) = envdir::parse_var(word).map_err(bad)?;
        if vars.contains_key(&key) {
            return Err(bad(crate::diag::msg("key given twice: ").text(key.as_bytes()).into()));
        }
        vars.insert(key, value);
    }
    let prog = &block[end + 1..];
    let defaults = envdir::template_env(&service.template()?)?;
    if !crate::create::install_env(&service, name, &defaults, &vars)? {
        envdir::set(&service.instance_dir(name), &defaults, &vars)?;
    }
    Ok(prog.to_vec())
}

fn bad(why: Vec<u8>) -> Error {
    crate::diag::msg("invalid variable: ").text(why).fatal(EXIT_USAGE)
}

/// `-S fd`: install the set's `env/` into new copies.
fn from_set(argv: &[OsString]) -> Result<Vec<OsString>, Error> {
    let mut set = None;
    let n = super::names::parse(argv, "eS:", |c, v| match (c, v) {
        (b'S', Some(v)) => {
            set = Some(v);
            Ok(())
        }
        _ => Err(Error::Usage),
    })?;
    let set = super::saved::load(set.ok_or(Error::Usage)?)?;
    let names = n.list();
    let defaults = envdir::defaults(&n.service, names.iter().any(|&n| set.contains_key(n)))?;
    // Only copies that s6i-clone made in this chain, not yet linked: a
    // live instance is s6i-change's.
    for name in &names {
        if !crate::create::is_kept(&n.service, name) {
            return Err(crate::diag::msg("unable to install env/ into ")
                .path(&n.service.instance_dir(name))
                .text(": no copy of s6i-clone awaits its link there")
                .fatal(EXIT_USAGE));
        }
    }
    for name in &names {
        if let Some(env) = set.get(*name) {
            if let Err(e) = crate::create::install_env(&n.service, name, &defaults, env) {
                crate::create::undo_create(&n.service, &names);
                return Err(e);
            }
        }
    }
    Ok(n.next())
}
