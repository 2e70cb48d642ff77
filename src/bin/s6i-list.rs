//! s6i-list: print the names of an instanced service's instances.

fn main() {
    s6i::diag::run(&s6i::step::LIST)
}
