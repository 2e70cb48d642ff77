//! s6i-template: replace an instanced service's template with a copy of
//! a new one, at once: every create after it copies the new one, and none
//! ever sees a template half copied.

use std::ffi::OsString;
use std::path::Path;

use crate::diag::{Error, EXIT_SYS};
use crate::door::Loc;
use crate::getopt::{operands, Getopt};
use crate::layout::Service;
use crate::{copy, leftovers};

pub const USAGE: &str = "s6i-template service newtemplate [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut opts = Getopt::new(&argv, "");
    if let Some(opt) = opts.next() {
        opt?;
        return Err(Error::Usage);
    }
    let (ops, prog) = operands(opts.rest(), 2)?;
    let service = Service::new(&ops[0])?;
    let new = Path::new(&ops[1]);
    match Loc::at(new).stat() {
        Ok(_) => crate::maker::check_template(new, true)?,
        Err(nix::errno::Errno::ENOTDIR) => {
            let msg = crate::diag::msg("invalid template: ")
                .path(new)
                .text(" is not a directory");
            return Err(Error::new(crate::diag::EXIT_USAGE, msg));
        }
        Err(e) => return Err(Error::sys("stat", new, e)),
    }
    replace(&service, new)?;
    Ok(prog.to_vec())
}

/// Copy `new` beside the template in use (`template/`, or the old
/// `instances/.template`), swap the two, then remove the old one.
pub fn replace(service: &Service, new: &Path) -> Result<(), Error> {
    // Only an instanced service has a template to replace.
    let current = service.template_entry().map_err(|_| {
        let msg = crate::diag::msg("not an instanced service: ").path(service.root());
        Error::new(EXIT_SYS, msg)
    })?;
    // The copy is made beside the template: never inside `new` (the
    // service as its own template, or inside it), where it would go on
    // copying itself. Refused before anything is made or swept.
    let place = current.parent().unwrap_or_else(|| service.loc().clone());
    crate::maker::refuse_copy_into_itself(new, &place, place.path())?;
    // Copies and old templates that a killed replace left behind go now.
    let _ = leftovers::sweep_leftovers(service.loc(), &service.instances());
    let _working = leftovers::working(&service.instances());
    let copy = leftovers::hidden_sibling(&current, "template");
    let made = copy::copy_tree(&Loc::at(new), &copy).map_err(|e| Error::new(EXIT_SYS, e.message(new, &current)))?;
    made.exchange_with(&current).map_err(|e| {
        let _ = copy.remove_tree();
        Error::new(EXIT_SYS, copy::CopyError::from(e).message(new, &current))
    })?;
    // The old template is now at the hidden name. Copies of it under way
    // (creates, upgrades) hold the template lock shared: it goes once
    // they are done, so that each is whole (see copy::copy_template).
    let lock = service.lock_instances();
    let removed = copy.remove_tree().map_err(|e| Error::sys("remove", &copy, e));
    drop(lock);
    removed
}
