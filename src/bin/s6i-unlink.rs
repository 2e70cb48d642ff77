//! s6i-unlink: take an instance out of the nested scan directory and
//! wait for its supervisor to exit.

fn main() {
    s6i::diag::run(&s6i::step::UNLINK)
}
