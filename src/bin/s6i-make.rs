//! s6i-make: write an instanced service directory from a template (or
//! s6-rc source definitions for one), whole or not at all, then chain.

fn main() {
    s6i::diag::run(&s6i::step::MAKE)
}
