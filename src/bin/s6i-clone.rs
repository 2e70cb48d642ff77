//! s6i-clone: copy an instanced service's template into a new instance
//! directory, whole or not at all.

fn main() {
    s6i::diag::run(&s6i::step::CLONE)
}
