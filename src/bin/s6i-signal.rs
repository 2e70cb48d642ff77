//! s6i-signal: send s6-svc commands to an instance's supervisor, and
//! optionally wait until the instance reaches a state.

fn main() {
    s6i::diag::run(&s6i::step::SIGNAL)
}
