//! A chain that changes instances told to stop (SIGINT, SIGTERM, SIGHUP)
//! between two pieces of its work: what its intent log has open is
//! undone or finished, one message says which, and the process dies of
//! the signal. Instances being created are taken back whole (linked or
//! not); instances being deleted, already unlinked, are removed. No
//! directory is left in `instances/` without its link.

use std::ffi::{OsStr, OsString};

use nix::sys::signal::Signal;

use crate::diag::{msg, warn};

/// Undo or finish what this chain has open, say so, and die of `sig`.
pub fn stop(sig: Signal) -> ! {
    let creates = crate::journal::open_names("create");
    let deletes = crate::journal::open_names("delete");
    let service = crate::create::service_of_log();
    let mut did = Vec::new();
    if let Some(service) = service {
        if !creates.is_empty() {
            crate::create::undo_create(&service, &refs(&creates));
            for name in &creates {
                crate::journal::close("create", name.as_encoded_bytes());
            }
            did.push("undid the creation of what it had made");
        }
        if !deletes.is_empty() {
            let _ = crate::delete::remove(&service, &refs(&deletes));
            did.push("finished the deletion of what it had unlinked");
        }
    }
    if did.is_empty() {
        did.push("nothing was left half done");
    }
    warn(
        msg("interrupted by ")
            .text(sig.as_str())
            .text(": ")
            .text(did.join(", and ")),
    );
    crate::journal::exit();
    crate::signals::die_of(sig)
}

fn refs(names: &[OsString]) -> Vec<&OsStr> {
    names.iter().map(OsString::as_os_str).collect()
}
