//! s6i-env: set one instance's `env/` to the template's `env/` with the
//! variables of a block added or replacing, swapped in whole (see
//! crate::envdir, which sync uses too). Nothing is printed and nothing
//! is restarted: a script chains s6-instance-control for that.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use crate::diag::{Error, EXIT_USAGE};
use crate::envdir::{self, Env};
use crate::getopt::Getopt;
use crate::layout::Service;

pub const USAGE: &str = "s6i-env service name { KEY=VALUE... } prog...";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
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
    let dir = service.instance_dir(name);
    let env = envdir::overlay(&envdir::template_env(&service.template()?)?, vars);
    envdir::set(&dir, &env)?;
    Ok(prog.to_vec())
}

fn bad(why: Vec<u8>) -> Error {
    crate::diag::msg("invalid variable: ").text(why).fatal(EXIT_USAGE)
}
