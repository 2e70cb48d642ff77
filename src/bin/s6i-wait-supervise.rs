//! s6i-wait-supervise: have the nested scanner start a supervisor on a
//! linked instance, and wait until it runs.

fn main() {
    s6i::diag::run(&s6i::step::WAIT_SUPERVISE)
}
