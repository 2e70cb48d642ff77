//! s6i-ensure: check that an instanced service is live, and, for a
//! create, that it has a template and an `instances/` directory.

fn main() {
    s6i::diag::run(&s6i::step::ENSURE)
}
