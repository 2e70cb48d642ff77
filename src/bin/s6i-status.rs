//! s6i-status: print an instance's status as s6-svstat does.

fn main() {
    s6i::diag::run(&s6i::step::STATUS)
}
