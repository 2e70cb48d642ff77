//! s6i-remove: delete an instance's directory.

fn main() {
    s6i::diag::run(&s6i::step::REMOVE)
}
