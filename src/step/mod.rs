//! The steps, each a function from its command line (without argv[0])
//! to the command line it executes next. Each binary in `src/bin` starts
//! one; `chain::run` goes on with the next step in the same process when
//! that step is one of these, installed beside the running program,
//! since executing it would only cost time and change nothing else.

use std::ffi::OsString;

use crate::diag::Error;

pub mod args;
pub mod change;
pub mod clone;
pub mod ensure;
pub mod env;
pub mod link;
pub mod list;
pub mod make;
pub mod names;
pub mod plan;
pub mod recover;
pub mod remove;
pub mod saved;
pub mod signal;
pub mod status;
pub mod summary;
pub mod sync;
pub mod template;
pub mod unlink;
pub mod upgrade;
pub mod wait_supervise;
pub mod watch;
pub mod waves;

/// One step: its program name, its usage line, what it does.
pub struct Step {
    pub name: &'static str,
    pub usage: &'static str,
    pub run: fn(Vec<OsString>) -> Result<Vec<OsString>, Error>,
}

pub const ARGS: Step = Step {
    name: "s6i-args",
    usage: args::USAGE,
    run: args::run,
};
pub const CHANGE: Step = Step {
    name: "s6i-change",
    usage: change::USAGE,
    run: change::run,
};
pub const CLONE: Step = Step {
    name: "s6i-clone",
    usage: clone::USAGE,
    run: clone::run,
};
pub const ENSURE: Step = Step {
    name: "s6i-ensure",
    usage: ensure::USAGE,
    run: ensure::run,
};
pub const ENV: Step = Step {
    name: "s6i-env",
    usage: env::USAGE,
    run: env::run,
};
pub const LINK: Step = Step {
    name: "s6i-link",
    usage: link::USAGE,
    run: link::run,
};
pub const LIST: Step = Step {
    name: "s6i-list",
    usage: list::USAGE,
    run: list::run,
};
pub const MAKE: Step = Step {
    name: "s6i-make",
    usage: make::USAGE,
    run: make::run,
};
pub const PLAN: Step = Step {
    name: "s6i-plan",
    usage: plan::USAGE,
    run: plan::run,
};
pub const RECOVER: Step = Step {
    name: "s6i-recover",
    usage: recover::USAGE,
    run: recover::run,
};
pub const REMOVE: Step = Step {
    name: "s6i-remove",
    usage: remove::USAGE,
    run: remove::run,
};
pub const SIGNAL: Step = Step {
    name: "s6i-signal",
    usage: signal::USAGE,
    run: signal::run,
};
pub const STATUS: Step = Step {
    name: "s6i-status",
    usage: status::USAGE,
    run: status::run,
};
pub const SUMMARY: Step = Step {
    name: "s6i-summary",
    usage: summary::USAGE,
    run: summary::run,
};
pub const SYNC: Step = Step {
    name: "s6i-sync",
    usage: sync::USAGE,
    run: sync::run,
};
pub const TEMPLATE: Step = Step {
    name: "s6i-template",
    usage: template::USAGE,
    run: template::run,
};
pub const UNLINK: Step = Step {
    name: "s6i-unlink",
    usage: unlink::USAGE,
    run: unlink::run,
};
pub const UPGRADE: Step = Step {
    name: "s6i-upgrade",
    usage: upgrade::USAGE,
    run: upgrade::run,
};
pub const WAIT_SUPERVISE: Step = Step {
    name: "s6i-wait-supervise",
    usage: wait_supervise::USAGE,
    run: wait_supervise::run,
};

pub const WATCH: Step = Step {
    name: "s6i-watch",
    usage: watch::USAGE,
    run: watch::run,
};
pub const WAVES: Step = Step {
    name: "s6i-waves",
    usage: waves::USAGE,
    run: waves::run,
};

const ALL: [&Step; 21] = [
    &ARGS,
    &CHANGE,
    &CLONE,
    &ENSURE,
    &ENV,
    &LINK,
    &LIST,
    &MAKE,
    &PLAN,
    &RECOVER,
    &REMOVE,
    &SIGNAL,
    &STATUS,
    &SUMMARY,
    &SYNC,
    &TEMPLATE,
    &UNLINK,
    &UPGRADE,
    &WAIT_SUPERVISE,
    &WATCH,
    &WAVES,
];

/// The step with this program name.
pub fn named(name: &[u8]) -> Option<&'static Step> {
    ALL.iter().copied().find(|s| s.name.as_bytes() == name)
}
